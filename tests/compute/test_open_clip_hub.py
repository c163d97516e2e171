"""``open_clip:hf-hub:<org>/<repo>`` (e.g. Marqo-Ecommerce-B): the id, its files in a hand-made Hugging Face cache
(the layout huggingface_hub writes: ``models--<org>--<repo>/{refs/main,snapshots/<rev>/...}``), the clear error
when they are missing, the fetch command, and a real offline load of a tiny model from such a cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compute.models import load_model, model_fingerprint, parse_model_id
from harness.compute.models.fetch import fetch
from harness.compute.models.weights import open_clip_files
from harness.core.errors import HarnessError
from harness.spec.ids import parse_ref

MARQO = "open_clip:hf-hub:Marqo/marqo-ecommerce-embeddings-B"
REV, OLD_REV = "3595ac53abf9afac69adb2141f574a7c6020373e", "0" * 40


def hub_repo(cache: Path, repo: str, files: dict[str, bytes], rev: str = REV, main: bool = True) -> Path:
    """A repository in huggingface_hub's cache layout (blobs are plain files here); returns its snapshot."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / rev
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(rev)
    return snapshot


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_an_hf_hub_id_parses_unambiguously_and_older_ids_keep_their_meaning() -> None:
    ref = parse_model_id(MARQO + "[init=random]")
    assert (ref.kind, ref.name, ref.options) == ("open_clip", "hf-hub:Marqo/marqo-ecommerce-embeddings-B",
                                                 (("init", "random"),))  # fmt: skip
    assert str(ref) == MARQO + "[init=random]" and parse_ref(str(ref), "model") == ref
    assert ref.split_at() == ("hf-hub:Marqo/marqo-ecommerce-embeddings-B", "")  # no tag: the repo names the weights
    assert parse_model_id("open_clip:ViT-B-16@openai").split_at() == ("ViT-B-16", "openai")
    for bad in ("open_clip:hf-hub:Marqo/marqo-ecommerce-embeddings-B@main", "open_clip:hf-hub:Marqo"):
        with pytest.raises(HarnessError, match=r"expected open_clip:hf-hub:<org>/<repo> \(no @tag"):
            load_model(bad)


def test_the_weight_files_are_the_config_and_weights_of_the_snapshot_refs_main_names(hf_cache: Path) -> None:
    ref = parse_model_id(MARQO)
    assert open_clip_files(ref) == [] and model_fingerprint(MARQO)["missing"]  # not cached at all
    hub_repo(hf_cache, "Marqo/marqo-ecommerce-embeddings-B", {"open_clip_config.json": b"{}"}, OLD_REV, main=False)
    snapshot = hub_repo(hf_cache, "Marqo/marqo-ecommerce-embeddings-B", {
        "open_clip_config.json": b"{}", "open_clip_model.safetensors": b"x" * 10, "open_clip_pytorch_model.bin": b"y",
        "README.md": b"card",
    })  # fmt: skip
    assert open_clip_files(ref) == [snapshot / "open_clip_config.json", snapshot / "open_clip_model.safetensors"]
    fingerprint = model_fingerprint(MARQO)
    assert not fingerprint["missing"] and [size for _, size, _ in fingerprint["files"]] == [2, 10]
    (snapshot / "open_clip_model.safetensors").unlink()  # open_clip falls back to the .bin (torch.load, weights_only)
    assert open_clip_files(ref)[1] == snapshot / "open_clip_pytorch_model.bin"
    (snapshot / "open_clip_pytorch_model.bin").unlink()  # config only: open_clip would silently random-init
    assert open_clip_files(ref)[1] == snapshot / "open_clip_model.safetensors" and model_fingerprint(MARQO)["missing"]
    assert open_clip_files(parse_model_id(MARQO + "[init=random]")) == [snapshot / "open_clip_config.json"]


def test_missing_hub_weights_are_one_clear_error_with_the_fetch_command(hf_cache: Path) -> None:
    with pytest.raises(HarnessError) as caught:
        load_model(MARQO)
    message = str(caught.value)
    assert f"pretrained weights for model '{MARQO}' are not in the local cache" in message
    assert "not cached: the repository Marqo/marqo-ecommerce-embeddings-B" in message
    assert "open_clip.create_model_and_transforms('hf-hub:Marqo/marqo-ecommerce-embeddings-B')" in message
    hub_repo(hf_cache, "Marqo/marqo-ecommerce-embeddings-B", {"open_clip_config.json": b"{}"})
    with pytest.raises(HarnessError, match=r"not cached: .*/snapshots/3595ac53[0-9a-f]+/open_clip_model.safetensors"):
        load_model(MARQO)
    results = fetch([MARQO])
    assert results[0].status == "unreachable" and "no hub reachable (HF_HUB_OFFLINE is set)" in results[0].message
    assert "create_model_and_transforms('hf-hub:Marqo/marqo-ecommerce-embeddings-B')" in results[0].message


TINY = {  # a CLIP small enough to build in milliseconds; the config format of an open_clip hub repository
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {"mean": [0.25, 0.5, 0.75], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic"},
}


@pytest.mark.slow  # a subprocess that imports open_clip (huggingface_hub reads its cache settings at import)
def test_an_hf_hub_model_loads_offline_from_the_cache_with_its_own_preprocessing(tmp_path: Path) -> None:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from harness.compute.models.base import state_digest

    torch.manual_seed(11)
    model = open_clip.CLIP(**TINY["model_cfg"])  # type: ignore[arg-type]
    hub_repo(tmp_path / "hub", "test-org/tiny-clip", {
        "open_clip_config.json": json.dumps(TINY).encode(),
    })  # fmt: skip
    snapshot = tmp_path / "hub" / "models--test-org--tiny-clip" / "snapshots" / REV
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snapshot / "open_clip_model.safetensors"))
    code = (
        "import json\n"
        "from harness.compute.models import load_model\n"
        "m = load_model('open_clip:hf-hub:test-org/tiny-clip')\n"
        "print(json.dumps({'digest': m.weights_digest, 'random': m.random_init, 'mean': m.preprocessing['mean'],\n"
        "                  'size': m.preprocessing['size']}))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["digest"] == state_digest(model.visual) and not shown["random"]  # the cached weights, not random
    assert shown["mean"] == [0.25, 0.5, 0.75] and shown["size"] == [32, 32]  # the repository's preprocessing
