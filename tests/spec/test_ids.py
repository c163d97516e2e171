import pytest

from harness.compute.models import parse_model_id
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options, parse_ref


@pytest.mark.parametrize(
    ("text", "kind", "name", "options", "canonical"),
    [
        ("digits", "digits", "", (), "digits"),
        ("synthetic[per_class=16, classes=8]", "synthetic", "", (("classes", "8"), ("per_class", "16")),
         "synthetic[classes=8,per_class=16]"),
        ("folder:/data/my shoes", "folder", "/data/my shoes", (), "folder:/data/my shoes"),
        ("open_clip:ViT-B-16@openai", "open_clip", "ViT-B-16@openai", (), "open_clip:ViT-B-16@openai"),
        ("open_clip:hf-hub:Marqo/m-B", "open_clip", "hf-hub:Marqo/m-B", (), "open_clip:hf-hub:Marqo/m-B"),
        ("published:resnet50@dino[seed=1]", "published", "resnet50@dino", (("seed", "1"),),
         "published:resnet50@dino[seed=1]"),
        ("timm:resnet18[init=random]", "timm", "resnet18", (("init", "random"),), "timm:resnet18[init=random]"),
    ],
)  # fmt: skip
def test_parse_and_canonical_form(text: str, kind: str, name: str, options: tuple, canonical: str) -> None:
    ref = parse_ref(text, "model")
    assert (ref.kind, ref.name, ref.options) == (kind, name, options)
    assert str(ref) == canonical
    assert parse_ref(canonical, "model") == ref  # the canonical form parses back to the same reference


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed model id ''"),
        (":resnet", "malformed model id ':resnet'"),
        ("timm:resnet18[init]", "malformed option 'init' in model id"),
        ("timm:resnet18[=x]", "malformed option '=x'"),
        ("timm:a[b]c", "malformed model id 'timm:a\\[b\\]c'"),
    ],
)
def test_malformed_ids(text: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        parse_ref(text, "model")


def test_unknown_options_are_named() -> None:
    with pytest.raises(HarnessError, match=r"unknown option\(s\) colour, size in model id .* \(known: init, seed\)"):
        check_options(Ref("timm", "x", (("colour", "1"), ("size", "2"))), {"init", "seed"}, "model")


def test_model_id_needs_known_family_and_name() -> None:
    with pytest.raises(HarnessError, match="unknown model family 'tf' in model id 'tf:resnet'"):
        parse_model_id("tf:resnet")
    with pytest.raises(HarnessError, match="model id 'timm' names no model: expected timm:<architecture>"):
        parse_model_id("timm")
