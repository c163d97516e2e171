"""``hf:<org>/<repo>``: tiny random-init CLIP, SigLIP, DINOv2 and ViT checkpoints written with ``save_pretrained``
into a hand-made Hugging Face cache (``models--<org>--<repo>/{refs/main,snapshots/<rev>/...}``), loaded offline:
the feature each architecture yields against transformers' own calls, the preprocessing against the image
processor and against a hand computation, weight files, revisions, random init, and the clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from harness.compute.datasets import resolve_dataset
from harness.compute.models import load_model, model_fingerprint, parse_model_id
from harness.compute.models.fetch import fetch
from harness.compute.models.weights import hf_files
from harness.core.errors import HarnessError

REV, OLD_REV = "57c216476eefef5ab752ec549e440a49ae4ae5f3", "0" * 40
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
          "image_size": 32, "patch_size": 16}  # fmt: skip
TEXT = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 64,
        "max_position_embeddings": 8, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}  # fmt: skip
ARCHS = ("clip", "siglip", "dinov2", "vit")


def tiny(arch: str) -> tuple[Any, Any]:
    """A tiny config of the architecture and an image processor whose settings differ from its defaults."""
    import transformers as t

    crop = {"size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 32}, "do_center_crop": True}
    return {
        "clip": lambda: (
            t.CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=8),
            t.CLIPImageProcessor(**crop),
        ),
        "siglip": lambda: (
            t.SiglipConfig(text_config=TEXT, vision_config=VISION),
            t.SiglipImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.2, 0.4, 0.6]),
        ),
        "dinov2": lambda: (t.Dinov2Config(**VISION), t.BitImageProcessor(**crop)),
        "vit": lambda: (t.ViTConfig(**VISION), t.ViTImageProcessor(size={"height": 32, "width": 32}, resample=2)),
    }[arch]()


def save(folder: Path, arch: str, seed: int = 5) -> None:
    import transformers as t

    config, processor = tiny(arch)
    torch.manual_seed(seed)
    t.AutoModel.from_config(config).save_pretrained(folder)
    processor.save_pretrained(folder)


def hub_repo(cache: Path, repo: str, rev: str = REV, main: bool = True) -> Path:
    """A repository in huggingface_hub's cache layout; returns its (empty) snapshot folder."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / rev
    snapshot.mkdir(parents=True)
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(rev)
    return snapshot


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hub = tmp_path_factory.mktemp("hf") / "hub"
    for arch in ARCHS:
        save(hub_repo(hub, f"test-org/tiny-{arch}"), arch)
    return hub


@pytest.fixture
def hf_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Real images of the test datasets: sklearn's digits (32 x 32) and generated products, plus a wide crop
    of one so that the shortest-edge resize and the centre crop both matter."""
    out = []
    for text in ("digits[per_class=2]", "synthetic[classes=3,per_class=2,size=48]"):
        dataset = resolve_dataset(text)
        out += [dataset.load_image(item) for item in dataset.manifest().items[:3]]
    out.append(out[-1].resize((70, 45)))
    return out


def reference_features(arch: str, folder: Path, pixels: torch.Tensor) -> torch.Tensor:
    """The feature through transformers' own calls on the full model (MIEB's): get_image_features for CLIP and
    SigLIP, the CLS token of last_hidden_state for DINOv2 and ViT."""
    import transformers as t

    with torch.inference_mode():
        if arch in ("clip", "siglip"):
            model = {"clip": t.CLIPModel, "siglip": t.SiglipModel}[arch].from_pretrained(folder).eval()
            out = model.get_image_features(pixel_values=pixels)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        model = {"dinov2": t.Dinov2Model, "vit": t.ViTModel}[arch].from_pretrained(folder).eval()
        hidden: torch.Tensor = model(pixel_values=pixels).last_hidden_state
        return hidden[:, 0]


@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_yields_the_feature_mieb_embeds_with(
    arch: str, hf_cache: Path, images: list[Image.Image]
) -> None:
    import transformers as t

    model = load_model(f"hf:test-org/tiny-{arch}")
    folder = hf_cache / f"models--test-org--tiny-{arch}" / "snapshots" / REV
    processor = t.AutoImageProcessor.from_pretrained(folder, backend="pil")
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    ours = torch.stack([model.transform(image) for image in images])
    assert torch.equal(ours, pixels)  # the repository's own processor, image by image as in a batch
    with torch.inference_mode():
        features = model.embed(ours)
    expected = reference_features(arch, folder, pixels)
    assert features.shape == expected.shape == (len(images), 8 if arch == "clip" else 32)
    assert torch.allclose(features, expected, atol=1e-6)
    assert not model.random_init and model.preprocessing["library"] == "transformers"
    assert model.preprocessing["input_size"] == [3, 32, 32] and model.preprocessing["backend"] == "pil"
    # only the image tower is the module: a CLIP's text tower counts in neither the parameters nor the digest
    full = t.AutoModel.from_pretrained(folder)
    towers = {"clip": ("vision_model", "visual_projection"), "siglip": ("vision_model",)}
    names = towers.get(arch, tuple(name for name, _ in full.named_children() if name != "pooler"))
    tower = sum(p.numel() for name in names for p in full.get_submodule(name).parameters())
    assert sum(p.numel() for p in model.module.parameters()) == tower
    assert model.weights_digest != load_model(f"hf:test-org/tiny-{arch}[init=random]").weights_digest


def test_the_preprocessing_is_the_image_processors_computed_by_hand(hf_cache: Path, images: list[Image.Image]) -> None:
    """CLIP's processor as recorded: the shortest edge to 40 (bicubic), the centre 32 x 32, scaled to [0, 1] and
    normalised with OpenAI's mean and std; the torchvision backend is a different (recorded) preprocessing."""
    model = load_model("hf:test-org/tiny-clip")
    record = model.preprocessing
    assert record["processor"] == "CLIPImageProcessorPil" and record["size"] == {"shortest_edge": 40}
    assert record["crop_size"] == {"height": 32, "width": 32} and record["resample"] == 3
    assert record["feature"].startswith("clip: get_image_features")
    mean, std = np.array(record["image_mean"], np.float32), np.array(record["image_std"], np.float32)
    for image in images:
        w, h = image.size
        size = (int(40 * w / h), 40) if w > h else (40, int(40 * h / w))
        resized = image.resize(size, Image.Resampling.BICUBIC)
        left, top = (size[0] - 32) // 2, (size[1] - 32) // 2
        crop = np.asarray(resized.crop((left, top, left + 32, top + 32)), np.float32) / 255
        expected = torch.from_numpy(((crop - mean) / std).transpose(2, 0, 1))
        assert torch.allclose(model.transform(image), expected, atol=1e-6)
    fast = load_model("hf:test-org/tiny-clip[processor=torchvision]")
    assert fast.preprocessing["backend"] == "torchvision" and fast.weights_digest == model.weights_digest
    difference = (fast.transform(images[-1]) - model.transform(images[-1])).abs().max()
    assert 0 < difference < 0.1  # torchvision's resize differs in the last bits: why it is an option, recorded
    with pytest.raises(HarnessError, match=r"option processor=fast in model id .*: expected one of pil, torchvision"):
        load_model("hf:test-org/tiny-clip[processor=fast]")


def test_random_init_is_seeded_and_needs_only_the_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    snapshot = hub_repo(tmp_path, "test-org/configs-only")
    save(snapshot, "dinov2")
    (snapshot / "model.safetensors").unlink()
    a, b = (
        load_model("hf:test-org/configs-only[init=random]"),
        load_model("hf:test-org/configs-only[init=random,seed=0]"),
    )
    c = load_model("hf:test-org/configs-only[init=random,seed=1]")
    assert a.random_init and a.weights_digest == b.weights_digest != c.weights_digest
    assert not model_fingerprint("hf:test-org/configs-only[init=random]")["missing"]
    assert model_fingerprint("hf:test-org/configs-only")["missing"]  # the weights are not there
    with pytest.raises(HarnessError, match=r"not cached: .*/snapshots/57c21647[0-9a-f]+/model.safetensors"):
        load_model("hf:test-org/configs-only")


def test_weight_files_follow_the_revision_and_the_weights_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    repo = "test-org/files"
    assert hf_files(parse_model_id(f"hf:{repo}")) == [] and model_fingerprint(f"hf:{repo}")["missing"]
    old = hub_repo(tmp_path, repo, OLD_REV, main=False)
    new = hub_repo(tmp_path, repo)
    for folder in (old, new):
        for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
            (folder / name).write_text("{}")
    configs = ["config.json", "preprocessor_config.json"]
    assert hf_files(parse_model_id(f"hf:{repo}")) == [new / n for n in [*configs, "model.safetensors"]]
    assert hf_files(parse_model_id(f"hf:{repo}@{OLD_REV}"))[0] == old / "config.json"  # a pinned revision
    (tmp_path / "models--test-org--files" / "refs" / "v1").write_text(OLD_REV)
    assert hf_files(parse_model_id(f"hf:{repo}@v1"))[0] == old / "config.json"  # a branch or tag, via refs/
    assert hf_files(parse_model_id(f"hf:{repo}@{'1' * 40}")) == []  # a revision not cached
    (new / "model.safetensors").unlink()
    (new / "pytorch_model.bin").write_text("x")
    assert hf_files(parse_model_id(f"hf:{repo}"))[-1] == new / "pytorch_model.bin"
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (new / "model.safetensors.index.json").write_text(json.dumps(index))
    assert [p.name for p in hf_files(parse_model_id(f"hf:{repo}"))[2:]] == [
        "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    ]  # fmt: skip
    assert model_fingerprint(f"hf:{repo}")["missing"]  # the shards are not there


def test_a_save_pretrained_folder_loads_like_the_cached_repository(hf_cache: Path, tmp_path: Path) -> None:
    shutil.copytree(hf_cache / "models--test-org--tiny-siglip" / "snapshots" / REV, tmp_path / "mine")
    mine = load_model(f"hf:{tmp_path / 'mine'}")
    assert mine.weights_digest == load_model("hf:test-org/tiny-siglip").weights_digest
    assert mine.model_id == f"hf:{tmp_path / 'mine'}"
    assert load_model(f"hf:test-org/tiny-siglip@{REV}").weights_digest == mine.weights_digest


def test_missing_weights_are_one_clear_error_with_the_fetch_command(hf_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as caught:
        load_model("hf:facebook/dinov2-base@f9e44c814b77203eaa57a6bdbbd535f21ede1415")
    message = str(caught.value)
    assert (
        "pretrained weights for model 'hf:facebook/dinov2-base@f9e44c8" in message
        and "not in the local cache" in message
    )
    assert "not cached: the repository facebook/dinov2-base@f9e44c8" in message
    call = "t.AutoModel.from_pretrained('facebook/dinov2-base', revision='f9e44c814b77203eaa57a6bdbbd535f21ede1415')"
    assert call in message and "[init=random]" in message
    results = fetch(["hf:facebook/dinov2-base@f9e44c814b77203eaa57a6bdbbd535f21ede1415", f"hf:{tmp_path}/absent",
                     "hf:test-org/tiny-vit"])  # fmt: skip
    assert [r.status for r in results] == ["unreachable", "manual", "present"]
    assert "HF_HUB_OFFLINE is set" in results[0].message and call in results[0].message
    assert results[1].message == "your own save_pretrained folder: copy it to this machine"
    with pytest.raises(
        HarnessError, match=r"the folder .*/absent lacks .*/absent/config.json, .*copy the folder to this"
    ):
        load_model(f"hf:{tmp_path}/absent")


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("hf:dinov2-base", r"expected hf:<org>/<repo>\[@<revision>\] or hf:<folder>"),
        ("hf:a/b/c", r"expected hf:<org>/<repo>\[@<revision>\]"),
        ("hf:facebook/dinov2-base@", r"expected hf:<org>/<repo>\[@<revision>\]"),
        (
            "hf:test-org/tiny-vit[pool=mean]",
            r"unknown option\(s\) pool in model id .* \(known: init, processor, seed\)",
        ),
    ],
)
def test_malformed_ids_are_refused(model_id: str, message: str, hf_cache: Path) -> None:
    with pytest.raises(HarnessError, match=message):
        load_model(model_id)


def test_a_checkpoint_of_another_kind_is_named_with_the_supported_ones(hf_cache: Path, tmp_path: Path) -> None:
    import transformers as t

    t.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(
        tmp_path
    )
    tiny("vit")[1].save_pretrained(tmp_path)
    with pytest.raises(
        HarnessError, match=r"is a 'bert' checkpoint: the hf family embeds images of clip, siglip, dinov2, vit"
    ):
        load_model(f"hf:{tmp_path}[init=random]")


def test_listing_families_imports_no_transformers() -> None:
    code = (
        "import sys\nfrom harness.compute.models import FAMILIES, catalog, model_fingerprint\n"
        "catalog(); model_fingerprint('hf:facebook/dinov2-base')\n"
        "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_openai_clips_legacy_feature_extractor_config_preprocesses_the_same(
    hf_cache: Path, tmp_path: Path, images: list[Image.Image]
) -> None:
    """openai/clip-vit-base-patch16 keeps the old format (``CLIPFeatureExtractor``, sizes as plain integers)."""
    folder = tmp_path / "legacy"
    shutil.copytree(hf_cache / "models--test-org--tiny-clip" / "snapshots" / REV, folder)
    legacy = {
        "crop_size": 32, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 40,
    }  # fmt: skip
    (folder / "preprocessor_config.json").write_text(json.dumps(legacy))
    old, new = load_model(f"hf:{folder}"), load_model("hf:test-org/tiny-clip")
    assert old.preprocessing["input_size"] == [3, 32, 32] and old.preprocessing["size"] == {"shortest_edge": 40}
    assert all(torch.equal(old.transform(image), new.transform(image)) for image in images)


def test_a_checkpoint_lacking_a_tensor_of_the_image_tower_is_refused(hf_cache: Path, tmp_path: Path) -> None:
    """transformers would initialise the missing tensor at random and only log it: here it is an error; the
    tensors of the unused ViT pooler, by contrast, are left out without a word."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "broken"
    shutil.copytree(hf_cache / "models--test-org--tiny-dinov2" / "snapshots" / REV, folder)
    state = load_file(str(folder / "model.safetensors"))
    del state["embeddings.cls_token"]
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(HarnessError, match=r"lacks 1 tensor\(s\) of the image tower \(embeddings.cls_token\); "):
        load_model(f"hf:{folder}")
    vit = load_model("hf:test-org/tiny-vit")
    assert not any(key.startswith("pooler") for key in vit.module.state_dict())


def test_a_processor_without_a_fixed_output_size_is_refused(hf_cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "uncropped"
    shutil.copytree(hf_cache / "models--test-org--tiny-clip" / "snapshots" / REV, folder)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "do_center_crop": False}))
    with pytest.raises(HarnessError, match=r"yields images of varying size \({'shortest_edge': 40}, no center crop\)"):
        load_model(f"hf:{folder}")
