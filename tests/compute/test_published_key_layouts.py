"""Published checkpoints onto timm architectures, by key layout (no weights can be downloaded here).

DINO-ResNet50 (facebookresearch/dino, ``torch.hub.load('facebookresearch/dino:main', 'dino_resnet50')``): its
hubconf builds torchvision's ``resnet50(pretrained=False)``, sets ``fc = Identity()`` and loads
``dino_resnet50_pretrain.pth`` (dl.fbaipublicfiles.com) into it, so the checkpoint holds torchvision's ResNet-50
keys without ``fc.*`` (github.com/facebookresearch/dino/issues/11: loading it strictly into a model with ``fc``
missed exactly ``fc.weight`` and ``fc.bias``). timm's ``resnet50`` without a head has exactly those keys and
shapes.

MAWS-ViT-B/16 (facebookresearch/maws, ``build_model("vit_b16", "maws")``): maws/model_builder.py builds timm
0.9.7's ``VisionTransformer(patch_size=16, embed_dim=768, depth=12, num_heads=12, num_classes=0, img_size=224)``
and loads ``pretrain/maws/vit_b16.pt`` into it strictly: timm's ViT names, fused qkv, no head. The layout below
is written out by hand from that configuration, and the mapped timm model's embedding is checked against a ViT
forward written here from the published tensors alone.

The files are built here with random values in the published layout, saved where torch hub caches the URL,
and loaded through the ``published:`` family exactly as a real download would be.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from harness.compute.models import load_model, model_fingerprint
from harness.compute.models.fetch import fetch
from harness.compute.models.published import CHECKPOINTS, Published, evaluation
from harness.compute.models.timm_family import create
from harness.core.errors import HarnessError
from harness.spec.ids import parse_ref

torch.set_num_threads(1)


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache; returns its checkpoints folder (where torch.hub downloads a URL)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def dino_resnet50_state(seed: int = 0) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """torchvision's ResNet-50 as DINO's hubconf builds it (fc = Identity), with random weights and statistics."""
    torch.manual_seed(seed)
    published = torchvision.models.resnet50(weights=None)
    published.fc = torch.nn.Identity()
    for module in published.modules():  # non-trivial BatchNorm statistics, so a dropped buffer would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    return published.eval(), published.state_dict()


def test_dino_resnet50_checkpoint_keys_match_timm_resnet50_without_head() -> None:
    _, state = dino_resnet50_state()
    want = {k: tuple(v.shape) for k, v in state.items()}
    model = create(parse_ref("timm:resnet50[init=random]", "model"), "resnet50", pretrained=False, seed=0)
    model.reset_classifier(0)  # type: ignore[operator]
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert not any(k.startswith("fc.") for k in want)
    assert got == want
    result = model.load_state_dict(state, strict=True)  # raises on any renamed tensor
    assert not result.missing_keys and not result.unexpected_keys


def test_dino_resnet50_loads_offline_from_torch_hubs_cache_and_embeds_like_the_published_model(
    torch_home: Path,
) -> None:
    published, state = dino_resnet50_state(seed=3)
    entry = CHECKPOINTS["resnet50@dino"]
    assert entry.url == "https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth"
    assert model_fingerprint("published:resnet50@dino")["missing"]
    torch.save(state, torch_home / "dino_resnet50_pretrain.pth")
    fingerprint = model_fingerprint("published:resnet50@dino")
    assert not fingerprint["missing"] and fingerprint["files"][0][0] == str(torch_home / "dino_resnet50_pretrain.pth")

    model = load_model("published:resnet50@dino")
    assert not model.random_init and model.model_id == "published:resnet50@dino"
    loaded = model.module.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # every tensor lands unchanged
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(model.embed(x), published(x), atol=1e-5)  # DINO's own forward: the pooled feature
    # DINO's eval_linear.py: Resize(256, bicubic), CenterCrop(224), ImageNet mean/std
    assert (model.preprocessing["crop_pct"], model.preprocessing["interpolation"]) == (0.875, "bicubic")
    assert model.preprocessing["mean"] == (0.485, 0.456, 0.406) and model.preprocessing["input_size"] == (3, 224, 224)
    assert "Resize(size=256" in repr(model.transform) and "CenterCrop(size=(224, 224))" in repr(model.transform)
    assert len(model.extra["source_sha256"]) == 64


def maws_vit_b16_layout(dim: int = 768, depth: int = 12, patch: int = 16, side: int = 224) -> dict[str, tuple]:
    """The tensors of timm 0.9.7's VisionTransformer as MAWS configures it (num_classes=0: no head), by hand."""
    tokens = (side // patch) ** 2 + 1
    layout: dict[str, tuple] = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, tokens, dim),
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        layout |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,)}
        layout |= {b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,)}
        layout |= {b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,)}
        layout |= {b + "norm2.weight": (dim,), b + "norm2.bias": (dim,)}
        layout |= {b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,)}
        layout |= {b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)}
    return layout | {"norm.weight": (dim,), "norm.bias": (dim,)}


def random_state(layout: dict[str, tuple], seed: int) -> dict[str, torch.Tensor]:
    """Small random values (norm scales near 1), so that 12 blocks stay numerically tame."""
    generator = torch.Generator().manual_seed(seed)
    state = {k: 0.02 * torch.randn(shape, generator=generator) for k, shape in layout.items()}
    for key in state:
        if "norm" in key and key.endswith("weight"):
            state[key] += 1.0
    return state


def vit_embedding(p: dict[str, torch.Tensor], x: torch.Tensor, heads: int = 12, patch: int = 16) -> torch.Tensor:
    """A pre-norm ViT's class token after the final norm, from the published tensors only (MAWS's forward with
    num_classes=0: global_pool='token', LayerNorm eps 1e-6, exact GELU, fused qkv as [q; k; v] by head)."""
    x = F.conv2d(x, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=patch).flatten(2).transpose(1, 2)
    x = torch.cat([p["cls_token"].expand(len(x), -1, -1), x], dim=1) + p["pos_embed"]
    n, t, d = x.shape
    blocks = len({k.split(".")[1] for k in p if k.startswith("blocks.")})
    for i in range(blocks):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (d,), p[b + "norm1.weight"], p[b + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(h, p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"]).reshape(n, t, 3, heads, -1).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        attention = torch.softmax(q @ k.transpose(-2, -1) / (d // heads) ** 0.5, dim=-1) @ v
        x = x + F.linear(attention.transpose(1, 2).reshape(n, t, d), p[b + "attn.proj.weight"], p[b + "attn.proj.bias"])
        h = F.layer_norm(x, (d,), p[b + "norm2.weight"], p[b + "norm2.bias"], eps=1e-6)
        h = F.linear(F.gelu(F.linear(h, p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"])), p[b + "mlp.fc2.weight"])
        x = x + h + p[b + "mlp.fc2.bias"]
    return F.layer_norm(x, (d,), p["norm.weight"], p["norm.bias"], eps=1e-6)[:, 0]


def test_maws_vit_b16_maps_tensor_for_tensor_onto_timm_and_embeds_like_an_independent_vit(torch_home: Path) -> None:
    layout = maws_vit_b16_layout()
    state = random_state(layout, seed=5)
    entry = CHECKPOINTS["vit_base_patch16_224@maws"]
    assert entry.url == "https://dl.fbaipublicfiles.com/maws/pretrain/maws/vit_b16.pt"
    torch.save(random_state(layout, seed=6), torch_home / "vit_b16.pt")  # e.g. MAE's file of the same name
    assert model_fingerprint("published:vit_base_patch16_224@maws")["missing"]  # is not taken for MAWS's
    torch.save(state, torch_home / "maws_pretrain_maws_vit_b16.pt")

    model = load_model("published:vit_base_patch16_224@maws")
    loaded = model.module.state_dict()
    assert {k: tuple(v.shape) for k, v in loaded.items()} == layout  # one timm tensor per published tensor
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # values round-trip
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        ours, reference = model.embed(x), vit_embedding(state, x)
    assert ours.shape == (1, 768)
    assert torch.allclose(ours, reference, atol=1e-4, rtol=1e-4), (ours - reference).abs().max()
    # maws/model.py get_image_transform: Resize(224, bicubic), CenterCrop(224), ImageNet mean/std
    assert "Resize(size=224, interpolation=bicubic" in repr(model.transform)
    assert model.preprocessing["std"] == (0.229, 0.224, 0.225)


def test_a_checkpoint_that_does_not_fit_or_holds_code_is_one_clear_error(torch_home: Path) -> None:
    _, state = dino_resnet50_state()
    path = torch_home / "dino_resnet50_pretrain.pth"
    torch.save({k: v for k, v in state.items() if k != "layer4.2.conv3.weight"}, path)
    with pytest.raises(HarnessError, match=r"does not fit timm architecture 'resnet50': missing \['layer4.2.conv3"):
        load_model("published:resnet50@dino")
    torch.save({"teacher": state}, path)  # a full training checkpoint, not the backbone file
    with pytest.raises(HarnessError, match="holds no flat state dict of tensors"):
        load_model("published:resnet50@dino")
    torch.save({"conv1.weight": HarnessError("not a tensor")}, path)  # unpickling it would need arbitrary code
    with pytest.raises(HarnessError, match=r"cannot read checkpoint .* torch.load\(weights_only=True\)"):
        load_model("published:resnet50@dino")


def test_a_missing_or_unknown_published_checkpoint_is_one_clear_error(torch_home: Path) -> None:
    with pytest.raises(HarnessError, match=r"not in the local cache \(.*/hub/checkpoints/dino_resnet50_pretrain.pth\)"):
        load_model("published:resnet50@dino")
    with pytest.raises(HarnessError, match=r"no published checkpoint 'resnet101@dino' .* known: published:resnet50"):
        load_model("published:resnet101@dino")
    random = load_model("published:vit_base_patch16_224@maws[init=random,seed=1]")
    assert random.random_init and not model_fingerprint("published:vit_base_patch16_224@maws[init=random]")["missing"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (the stand-in for the publisher's host): (base URL, the folder it serves)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_weights_fetch_says_when_the_publishers_host_is_not_reachable(
    torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = Published("http://127.0.0.1:9/gone.pth", "resnet18", "test", "none")  # nothing listens on port 9
    monkeypatch.setitem(CHECKPOINTS, "resnet18@gone", gone)
    assert len({e.filename for e in CHECKPOINTS.values()}) == len(CHECKPOINTS)  # one cache file per entry
    results = fetch(["published:resnet18@gone", "pixels:4"])
    assert [r.status for r in results] == ["unreachable", "present"], results
    assert "cannot fetch: 127.0.0.1:9 is not reachable (no connection to 127.0.0.1:9" in results[0].message
    assert "torch.hub.download_url_to_file('http://127.0.0.1:9/gone.pth'" in results[0].message
    assert not any(torch_home.iterdir())


@pytest.mark.slow  # two subprocesses that import torch (about 25 s on the shared 2-core box)
def test_weights_fetch_downloads_a_published_checkpoint_into_torch_hubs_cache(
    torch_home: Path, served: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, folder = served
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in torchvision.models.resnet18(weights=None).state_dict().items()}
    torch.save(state, folder / "rn18_test.pth")
    monkeypatch.setitem(CHECKPOINTS, "resnet18@test", Published(f"{base}/rn18_test.pth", "resnet18", "test", "none",
                                                                 evaluation(crop_pct=0.875)))  # fmt: skip
    assert [r.status for r in fetch(["published:resnet18@test"])] == ["fetched"]
    assert (torch_home / "rn18_test.pth").is_file()
    assert [r.status for r in fetch(["published:resnet18@test"])] == ["present"]
    model = load_model("published:resnet18@test")  # the downloaded file loads, head excepted
    assert torch.equal(model.module.state_dict()["conv1.weight"], state["conv1.weight"])
