"""``fashion_mnist:PATH``: Zalando's IDX files, their official split and class names, and clear errors."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.fashion_mnist import CLASSES, IMAGES_MAGIC, read_idx
from harness.core.errors import HarnessError
from support import replicas, run_cli
from support.datasets import installed_fashion_mnist


def test_reads_the_official_split_and_class_names(tmp_path: Path) -> None:
    root = replicas.fashion_mnist(tmp_path / "f", train=30, test=20)
    manifest = resolve_dataset(f"fashion_mnist:{root}").manifest()
    assert len(manifest.indices("train")) == 30 and len(manifest.indices("test")) == 20
    first = manifest.items[0]
    assert (first.key, first.label, first.class_name, first.split) == ("train/0", 0, "T-shirt/top", "train")
    assert {item.class_name for item in manifest.items} == set(CLASSES) and manifest.items[9].class_name == "Ankle boot"
    dataset = resolve_dataset(f"fashion_mnist:{root}")
    image = dataset.load_image(manifest.items[manifest.indices("test")[3]])
    assert image.size == (28, 28) and image.mode == "RGB"
    with gzip.open(root / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    assert np.asarray(image)[..., 0].tobytes() == raw[16 + 3 * 784 : 16 + 4 * 784]  # image 3 of the test file


def test_per_class_keeps_the_first_n_of_each_class_in_each_split(tmp_path: Path) -> None:
    root = replicas.fashion_mnist(tmp_path / "f", train=30, test=20)
    full = resolve_dataset(f"fashion_mnist:{root}").manifest()
    small = resolve_dataset(f"fashion_mnist:{root}[per_class=1]").manifest()
    assert [item.key for item in small.items] == [f"train/{i}" for i in range(10)] + [f"test/{i}" for i in range(10)]
    assert small.digest != full.digest
    with pytest.raises(HarnessError, match=r"unknown option.*test_fraction.*known: per_class"):
        resolve_dataset(f"fashion_mnist:{root}[test_fraction=0.3]")


def test_digest_follows_the_pixels(tmp_path: Path) -> None:
    a = resolve_dataset(f"fashion_mnist:{replicas.fashion_mnist(tmp_path / 'a')}").manifest()
    root = replicas.fashion_mnist(tmp_path / "b")
    assert resolve_dataset(f"fashion_mnist:{root}").manifest().digest != a.digest  # another path: another id
    path = root / "t10k-images-idx3-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    before = resolve_dataset(f"fashion_mnist:{root}").manifest()
    data[-1] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(data)))
    after = resolve_dataset(f"fashion_mnist:{root}[per_class=100]").manifest()  # a new process would re-read
    assert [i.content for i in after.items][:-1] == [i.content for i in before.items][:-1]
    assert after.items[-1].content != before.items[-1].content


def test_reads_uncompressed_files_too(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28).astype(np.uint8)
    path = tmp_path / "images"
    path.write_bytes(replicas.idx_bytes(images))
    assert (read_idx(path, IMAGES_MAGIC) == images).all()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda raw: raw[:-100],
            "is truncated or padded: its header gives 20x28x28 = 15,680 bytes of data, the file holds 15,580",
        ),
        (
            lambda raw: b"\x00\x00\x08\x01" + raw[4:],
            "is not an IDX image file: magic number 0x00000801, expected 0x00000803",
        ),
        (lambda raw: raw[:10], "is truncated: its header is cut short"),
    ],
)
def test_a_wrong_or_truncated_file_is_one_message_naming_it(tmp_path: Path, damage: object, message: str) -> None:
    root = replicas.fashion_mnist(tmp_path / "f", train=30, test=20)
    path = root / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(damage(gzip.decompress(path.read_bytes()))))  # type: ignore[operator]
    with pytest.raises(HarnessError) as error:
        resolve_dataset(f"fashion_mnist:{root}").manifest()
    assert str(error.value) == f"Fashion-MNIST file '{path}' {message}"


def test_a_cut_gzip_stream_and_missing_files(tmp_path: Path) -> None:
    root = replicas.fashion_mnist(tmp_path / "f")
    path = root / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(HarnessError, match=f"^Fashion-MNIST file '{path}' is damaged or truncated"):
        resolve_dataset(f"fashion_mnist:{root}").manifest()
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    path.unlink()
    with pytest.raises(HarnessError, match=r"train-labels-idx1-ubyte\.gz' does not exist: .*dataset-fashion-mnist"):
        resolve_dataset(f"fashion_mnist:{root}").manifest()
    with pytest.raises(HarnessError, match=r"folder '.*nowhere' does not exist"):
        resolve_dataset(f"fashion_mnist:{tmp_path / 'nowhere'}").manifest()


def test_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    root = replicas.fashion_mnist(tmp_path / "f", train=30, test=20)
    labels = root / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(replicas.idx_bytes(np.zeros(19))))
    with pytest.raises(HarnessError, match=r"\(20 images\) and 't10k-labels-idx1-ubyte.gz' \(19 labels\)"):
        resolve_dataset(f"fashion_mnist:{root}").manifest()


def test_the_installed_files_hold_the_official_split() -> None:
    root = installed_fashion_mnist()
    manifest = resolve_dataset(f"fashion_mnist:{root}[per_class=6000]").manifest()
    assert len(manifest.indices("train")) == 60_000 and len(manifest.indices("test")) == 10_000
    assert manifest.num_classes == 10


@pytest.mark.slow
def test_a_real_retrieval_cell_on_the_installed_files(tmp_path: Path) -> None:
    dataset = f"fashion_mnist:{installed_fashion_mnist()}[per_class=10]"
    done = run_cli("run", "--model", "pixels:28", "--dataset", dataset, "--backend", "exact", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from support import mmp_at_5

    assert mmp_at_5(done.stdout) > 0.4  # raw pixels on real clothes: well above chance (0.1)
