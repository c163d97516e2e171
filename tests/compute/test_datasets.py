"""Dataset registry, splits and every dataset kind, on real images written with PIL and sklearn's digits."""

from __future__ import annotations

import csv
import hashlib
import pickle
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from harness.compute.datasets import DATASET_KINDS, list_datasets, resolve_dataset
from harness.compute.datasets.base import Dataset, Manifest
from harness.compute.datasets.images import decode_image
from harness.compute.datasets.splits import stratified_split
from harness.core.errors import HarnessError
from harness.spec.ids import parse_ref
from support import replicas

REPO = Path(__file__).resolve().parents[2]


def save(path: Path, img: Image.Image, **params: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **params)
    return path


def solid(colour: tuple[int, int, int], size: int = 8) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def make_tree(root: Path, counts: dict[str, int]) -> Path:
    """root/<class>/<i>.png, a distinct solid colour per image."""
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            save(root / name / f"{i:02d}.png", solid((c * 40, i * 10, 7)))
    return root


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def counts_in_test(manifest: Manifest) -> dict[str, int]:
    return dict(Counter(item.class_name for item in manifest.items if item.split == "test"))


# --- registry ------------------------------------------------------------------------------------------


def test_list_datasets_names_every_kind_with_its_pattern() -> None:
    assert [pattern for pattern, _ in list_datasets()] == [
        "digits", "synthetic", "folder:PATH", "csv:PATH",
        "sop:PATH", "cars196:PATH", "products10k:PATH", "rp2k:PATH", "food2k:PATH", "fashion:PATH",
        "fashion_mnist:PATH",
    ]  # fmt: skip
    assert all(description for _, description in list_datasets())


def test_listing_imports_nothing_heavy() -> None:
    code = (
        "import sys, harness.compute.datasets as d; d.list_datasets(); "
        "heavy = [m for m in ('torch', 'PIL', 'sklearn', 'numpy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_kind() -> None:
    message = (
        "unknown dataset 'imagenet': known kinds are digits, synthetic, folder:PATH, csv:PATH, sop:PATH, "
        "cars196:PATH, products10k:PATH, rp2k:PATH, food2k:PATH, fashion:PATH, fashion_mnist:PATH"
    )
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        resolve_dataset("imagenet")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "digits[bogus=1]",
            "unknown option(s) bogus in dataset id 'digits[bogus=1]' (known: per_class, seed,",
        ),
        ("synthetic[x=1]", "unknown option(s) x in dataset id 'synthetic[x=1]' (known: classes, per_class,"),
        ("folder:/d[size=3]", "unknown option(s) size in dataset id 'folder:/d[size=3]' (known: seed, test_"),
        (
            "csv:/d.csv[k=1]",
            "unknown option(s) k in dataset id 'csv:/d.csv[k=1]' (known: allow_outside, seed, test_fraction)",
        ),
        (
            "synthetic[classes=x]",
            "option classes='x' in dataset id 'synthetic[classes=x]' must be an integer >= 1",
        ),
        (
            "digits[per_class=0]",
            "option per_class='0' in dataset id 'digits[per_class=0]' must be an integer >= 1",
        ),
        (
            "digits[test_fraction=1]",
            "option test_fraction='1' in dataset id 'digits[test_fraction=1]' must be a",
        ),
        ("folder", "dataset id 'folder' lacks its PATH: write folder:PATH"),
        ("digits:foo", "dataset id 'digits:foo' takes no name after ':'"),
    ],
)
def test_bad_ids(text: str, message: str) -> None:
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}"):
        resolve_dataset(text)


@pytest.fixture
def example_ids(tmp_path: Path) -> dict[str, str]:
    """One small, non-canonically written id per registered kind (options out of order)."""
    make_tree(tmp_path / "tree", {"a": 3, "b": 3})
    write_csv(tmp_path / "tree" / "list.csv", [["path", "label"], *[[f"a/0{i}.png", "x"] for i in range(3)]])
    return {
        "digits": "digits[seed=1, per_class=3]",
        "synthetic": "synthetic[size=32,per_class=4,classes=3]",
        "folder": f"folder:{tmp_path / 'tree'}[test_fraction=0.4,seed=2]",
        "csv": f"csv:{tmp_path / 'tree' / 'list.csv'}[ seed=1 ]",
        # the paper's six, on tiny replicas of their official layouts (tests/support/replicas.py)
        "sop": f"sop:{replicas.sop(tmp_path / 'sop')}[]",
        "cars196": f"cars196:{replicas.cars_all_in_one(tmp_path / 'cars')}[ split=classification ]",
        "products10k": f"products10k:{replicas.products10k(tmp_path / 'p10k')}[]",
        "rp2k": f"rp2k:{replicas.rp2k(tmp_path / 'rp2k')}[]",
        "food2k": f"food2k:{replicas.food2k(tmp_path / 'food')}[ val=train]",
        "fashion": f"fashion:{replicas.fashion(tmp_path / 'fashion')}[seed=1,label=gender]",
        "fashion_mnist": f"fashion_mnist:{replicas.fashion_mnist(tmp_path / 'fmnist')}[ per_class=2]",
    }


@pytest.mark.parametrize("kind", list(DATASET_KINDS))
def test_dataset_contract(kind: str, example_ids: dict[str, str]) -> None:
    assert set(example_ids) == set(DATASET_KINDS), "every registered kind needs an example id here"
    dataset = resolve_dataset(example_ids[kind])
    assert dataset.id == str(parse_ref(example_ids[kind], "dataset")) != example_ids[kind]
    assert all(option in DATASET_KINDS[kind].description for option in type(dataset).OPTIONS)  # type: ignore[attr-defined]
    copy: Dataset = pickle.loads(pickle.dumps(dataset))  # workers get the dataset before manifest()
    manifest = dataset.manifest()
    assert manifest is dataset.manifest()  # cached
    assert manifest.items and {item.split for item in manifest.items} <= {"train", "test"}
    assert copy.manifest().digest == manifest.digest
    first = dataset.load_image(manifest.items[0])
    assert first.mode == "RGB"
    assert copy.load_image(manifest.items[0]).tobytes() == first.tobytes()


# --- splits --------------------------------------------------------------------------------------------


def test_stratified_split_counts_per_class() -> None:
    labels = [0] * 10 + [1] * 5 + [2] * 2 + [3] + [4] * 3
    splits = stratified_split(labels, 0.5, seed=0)
    tests = Counter(label for label, split in zip(labels, splits, strict=True) if split == "test")
    # 5 of 10; 3 of 5 (2.5 rounds up); 1 of 2; the singleton stays in train; 2 of 3 (1.5 rounds up)
    assert tests == {0: 5, 1: 3, 2: 1, 4: 2}
    assert Counter(stratified_split([0, 0, 0], 0.1, 0)) == {"train": 2, "test": 1}  # at least one test
    assert Counter(stratified_split([0, 0, 0], 0.9, 0)) == {"train": 1, "test": 2}  # at least one train


def test_stratified_split_is_seeded() -> None:
    labels = [i % 4 for i in range(80)]
    assert stratified_split(labels, 0.3, 7) == stratified_split(labels, 0.3, 7)
    assert stratified_split(labels, 0.3, 7) != stratified_split(labels, 0.3, 8)
    with pytest.raises(HarnessError, match=r"test_fraction must be between 0 and 1, got 0\.0"):
        stratified_split(labels, 0.0, 0)


# --- digits --------------------------------------------------------------------------------------------


def test_digits_manifest_and_pixels() -> None:
    dataset = resolve_dataset("digits")
    manifest = dataset.manifest()
    bunch = load_digits()
    assert len(manifest.items) == 1797 and manifest.num_classes == 10
    assert [item.label for item in manifest.items] == bunch.target.tolist()
    assert all(item.class_name == str(item.label) for item in manifest.items)
    per_class = Counter(bunch.target.tolist())
    assert counts_in_test(manifest) == {str(c): (n + 1) // 2 for c, n in per_class.items()}
    item = manifest.items[5]
    img = dataset.load_image(item)
    assert item.key == "digits/5" and img.mode == "RGB" and img.size == (32, 32)
    assert item.content == hashlib.sha256(img.tobytes()).hexdigest()
    pixels = np.asarray(img)
    expected = (bunch.images[5].astype(int) * 255 + 8) // 16
    assert (pixels[::4, ::4, 0] == expected).all() and (pixels[3::4, 3::4, 2] == expected).all()


def test_digits_per_class_and_seed() -> None:
    small = resolve_dataset("digits[per_class=5]").manifest()
    targets = load_digits().target.tolist()
    first5 = [i for i, t in enumerate(targets) if targets[: i + 1].count(t) <= 5]
    assert [item.key for item in small.items] == [f"digits/{i}" for i in first5]
    assert len(small.items) == 50 and counts_in_test(small) == {str(c): 3 for c in range(10)}
    again = resolve_dataset("digits[per_class=5]").manifest()
    other = resolve_dataset("digits[per_class=5,seed=1]").manifest()
    assert again.digest == small.digest
    assert other.indices("test") != small.indices("test") and counts_in_test(other) == counts_in_test(small)


# --- synthetic -----------------------------------------------------------------------------------------


def test_synthetic_counts_sizes_and_determinism() -> None:
    dataset = resolve_dataset("synthetic")
    manifest = dataset.manifest()
    assert len(manifest.items) == 16 * 24 and manifest.num_classes == 16
    assert counts_in_test(manifest) == {f"class_{c:03d}": 12 for c in range(16)}
    assert resolve_dataset("synthetic").manifest().digest == manifest.digest
    reseeded = resolve_dataset("synthetic[seed=1]")
    assert reseeded.manifest().digest != manifest.digest
    item = manifest.items[0]
    assert dataset.load_image(item).tobytes() == resolve_dataset("synthetic").load_image(item).tobytes()
    assert dataset.load_image(item).tobytes() != reseeded.load_image(item).tobytes()
    small = resolve_dataset("synthetic[classes=3,per_class=5,size=40,test_fraction=0.2]")
    assert len(small.manifest().items) == 15 and small.load_image(small.manifest().items[0]).size == (40, 40)
    assert counts_in_test(small.manifest()) == {f"class_{c:03d}": 1 for c in range(3)}


def test_synthetic_classes_need_shape_and_colour_and_instances_differ() -> None:
    from sklearn.linear_model import LogisticRegression

    dataset = resolve_dataset("synthetic")
    manifest = dataset.manifest()
    images = [dataset.load_image(item) for item in manifest.items]
    labels = np.array([item.label for item in manifest.items])
    train, test = np.array(manifest.indices("train")), np.array(manifest.indices("test"))
    chance = 1 / 16
    # Colour alone is ambiguous: 8 classes share each hue, so a nearest-class-mean on mean colour stays
    # near 1/8 at best.
    colours = np.array([np.asarray(img, dtype=np.float64).mean(axis=(0, 1)) for img in images])
    means = np.stack([colours[train][labels[train] == c].mean(axis=0) for c in range(16)])
    predicted = ((colours[test][:, None, :] - means[None]) ** 2).sum(axis=-1).argmin(axis=1)
    assert (predicted == labels[test]).mean() <= 0.2
    # Yet the classes are learnable from the pixels: a linear model on 16x16 thumbnails is far above chance.
    pixels = np.array([np.asarray(img.resize((16, 16)), dtype=np.float64).ravel() / 255 for img in images])
    accuracy = LogisticRegression(max_iter=2000).fit(pixels[train], labels[train]).score(pixels[test], labels[test])
    assert accuracy >= 2.5 * chance
    same_class = [i for i, label in enumerate(labels) if label == 3]
    first, second = (np.asarray(images[i], dtype=np.float64) for i in same_class[:2])
    assert np.abs(first - second).mean() > 1.0


# --- image decoding ------------------------------------------------------------------------------------


def test_decode_converts_modes_to_rgb(tmp_path: Path) -> None:
    grey = save(tmp_path / "grey.png", Image.new("L", (4, 4), 100))
    grey16 = save(tmp_path / "grey16.png", Image.fromarray(np.full((4, 4), 257 * 100, np.uint16)))
    cmyk = save(tmp_path / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=95)
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 0))  # fully transparent red: must come out white, not red
    rgba.putpixel((1, 0), (0, 0, 255, 128))
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 0, 0, 0, 255, 0])
    palette.putpixel((1, 0), 1)
    decoded = {
        "grey": decode_image(grey),
        "grey16": decode_image(grey16),
        "cmyk": decode_image(cmyk),
        "rgba": decode_image(save(tmp_path / "rgba.png", rgba)),
        "palette": decode_image(save(tmp_path / "p.png", palette, transparency=0)),
    }
    assert {img.mode for img in decoded.values()} == {"RGB"}
    assert decoded["grey"].getpixel((1, 1)) == (100, 100, 100)
    assert decoded["grey16"].getpixel((1, 1)) == (100, 100, 100)
    assert np.abs(np.asarray(decoded["cmyk"], dtype=int) - [255, 0, 0]).max() <= 3
    assert decoded["rgba"].getpixel((0, 0)) == (255, 255, 255)
    assert np.abs(np.asarray(decoded["rgba"], dtype=int)[0, 1] - [127, 127, 255]).max() <= 1
    assert [decoded["palette"].getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (0, 255, 0)]


def test_decode_errors(tmp_path: Path) -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = (save(tmp_path / "full.jpg", noisy)).read_bytes()
    truncated = tmp_path / "a" / "1.jpg"
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(HarnessError, match=f"^{re.escape(f'cannot decode image {str(truncated)!r}: ')}.+") as err:
        decode_image(truncated)
    assert isinstance(err.value.__cause__, OSError)
    text = tmp_path / "a" / "2.jpg"
    text.write_text("not an image")
    message = f"cannot decode image '{text}': not an image format Pillow can read"
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        decode_image(text)


# --- folder --------------------------------------------------------------------------------------------


def test_folder_flat_layout(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "shop", {"shoes": 4, "bags": 6, "hats": 1})
    save(root / "bags" / "deep" / "Z.JPG", solid((1, 2, 3)))  # nested, upper-case extension
    (root / "bags" / "notes.txt").write_text("ignored")
    save(root / "bags" / ".cache" / "x.png", solid((9, 9, 9)))  # hidden: skipped
    save(root / "loose.png", solid((5, 5, 5)))  # not in a class folder: skipped
    save(root / ".thumbnails" / "t.png", solid((5, 5, 5)))  # hidden class folder: skipped
    manifest = resolve_dataset(f"folder:{root}").manifest()
    assert len(manifest.items) == 12
    assert {item.class_name: item.label for item in manifest.items} == {"bags": 0, "hats": 1, "shoes": 2}
    assert [item.key for item in manifest.items[:7]] == [f"bags/{i:02d}.png" for i in range(6)] + ["bags/deep/Z.JPG"]
    assert counts_in_test(manifest) == {"bags": 4, "shoes": 2}  # 7 -> 4 (3.5 rounds up); singleton in train
    assert manifest.items[1].content == hashlib.sha256((root / "bags" / "01.png").read_bytes()).hexdigest()
    assert resolve_dataset(f"folder:{root}").manifest().digest == manifest.digest
    reseeded = resolve_dataset(f"folder:{root}[seed=5]").manifest()
    assert reseeded.indices("test") != manifest.indices("test") and counts_in_test(reseeded) == {
        "bags": 4,
        "shoes": 2,
    }


def test_folder_digest_follows_file_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "shop", {"a": 2, "b": 2})
    before = resolve_dataset(f"folder:{root}").manifest().digest
    save(root / "b" / "01.png", solid((200, 0, 0)))
    assert resolve_dataset(f"folder:{root}").manifest().digest != before


def test_folder_official_split(tmp_path: Path) -> None:
    root = tmp_path / "official"
    make_tree(root / "train", {"b": 2, "a": 3})
    make_tree(root / "test", {"c": 1, "a": 1})
    dataset = resolve_dataset(f"folder:{root}")
    manifest = dataset.manifest()
    rows = [(item.split, item.class_name, item.label) for item in manifest.items]
    assert rows == [("train", "a", 0)] * 3 + [("train", "b", 1)] * 2 + [("test", "a", 0), ("test", "c", 2)]
    assert manifest.items[-1].key == "test/c/00.png"
    assert dataset.load_image(manifest.items[-1]).getpixel((0, 0)) == (0, 0, 7)
    with pytest.raises(HarnessError, match=re.escape("option(s) test_fraction of dataset 'folder:")):
        resolve_dataset(f"folder:{root}[test_fraction=0.2]").manifest()


def test_folder_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(HarnessError, match=f"^{re.escape(f'dataset folder {str(missing)!r} does not exist')}$"):
        resolve_dataset(f"folder:{missing}").manifest()
    file = save(tmp_path / "f.png", solid((0, 0, 0)))
    with pytest.raises(HarnessError, match=re.escape(f"dataset folder '{file}' is not a directory")):
        resolve_dataset(f"folder:{file}").manifest()
    empty = tmp_path / "empty"
    save(empty / "loose.jpg", solid((0, 0, 0)))
    message = (
        f"dataset folder '{empty}' holds no images: expected one sub-folder per class, e.g. {empty}/<class>/<image>.jpg"
    )
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        resolve_dataset(f"folder:{empty}").manifest()
    root = make_tree(tmp_path / "shop", {"a": 2})
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(HarnessError, match=re.escape(f"class folder '{root / 'b'}' holds no images (looked for")):
        resolve_dataset(f"folder:{root}").manifest()


def test_folder_excludes_a_corrupt_file_and_load_image_reports_one(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "shop", {"a": 3})
    (root / "a" / "01.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    dataset = resolve_dataset(f"folder:{root}")
    assert [item.key for item in dataset.manifest().items] == ["a/00.png", "a/02.png"]
    assert dataset.manifest().excluded == 1
    assert dataset.load_image(dataset.manifest().items[0]).mode == "RGB"
    (root / "a" / "02.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # broken after the manifest was made
    with pytest.raises(HarnessError, match=re.escape(f"cannot decode image '{root / 'a' / '02.png'}': ")):
        dataset.load_image(dataset.manifest().items[1])


# --- csv -----------------------------------------------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "shop", {"img": 6})


def test_csv_without_split_column(shop: Path) -> None:
    rows = [["Label", "path", "sku"]] + [[["tee", "cap"][i % 2], f"img/{i:02d}.png", str(i)] for i in range(6)]
    save(shop.parent / "elsewhere" / "x.png", solid((250, 1, 2)))
    rows.append(["tee", str(shop.parent / "elsewhere" / "x.png"), "6"])  # absolute path, allowed on purpose
    dataset = resolve_dataset(f"csv:{write_csv(shop / 'labels.csv', rows)}[allow_outside=true]")
    manifest = dataset.manifest()
    assert [(item.key, item.label) for item in manifest.items[:2]] == [("img/00.png", 1), ("img/01.png", 0)]
    assert {item.class_name: item.label for item in manifest.items} == {"cap": 0, "tee": 1}
    assert counts_in_test(manifest) == {"cap": 2, "tee": 2}
    assert dataset.load_image(manifest.items[-1]).getpixel((0, 0)) == (250, 1, 2)
    before = manifest.digest
    save(shop / "img" / "03.png", solid((0, 99, 0)))
    assert resolve_dataset(f"csv:{shop / 'labels.csv'}[allow_outside=true]").manifest().digest != before


@pytest.mark.parametrize("where", ["../elsewhere/x.png", "img/../../elsewhere/x.png", "absolute"])
def test_csv_rows_outside_the_folder_are_refused_unless_allowed(shop: Path, where: str) -> None:
    outside = save(shop.parent / "elsewhere" / "x.png", solid((250, 1, 2)))
    key = str(outside) if where == "absolute" else where
    rows = [["path", "label"], ["img/00.png", "a"], ["img/../img/01.png", "a"], [key, "a"]]
    path = write_csv(shop / "labels.csv", rows)
    message = (
        f"row 4 of '{path}': image path {key!r} points outside the CSV's folder '{shop}'; write it relative to "
        "that folder, or allow it with the id option [allow_outside=true]"
    )
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        resolve_dataset(f"csv:{path}").manifest()
    allowed = resolve_dataset(f"csv:{path}[allow_outside=true]").manifest()
    assert len(allowed.items) == 3 and allowed.items[2].key == Path(key).as_posix()
    with pytest.raises(HarnessError, match=re.escape("option allow_outside='yes' in dataset id")):
        resolve_dataset(f"csv:{path}[allow_outside=yes]")


def test_csv_split_column(shop: Path) -> None:
    rows = [["path", "label", "split"]] + [[f"img/{i:02d}.png", "a", ["train", " Test"][i % 2]] for i in range(6)]
    path = write_csv(shop / "labels.csv", rows)
    manifest = resolve_dataset(f"csv:{path}").manifest()
    assert [item.split for item in manifest.items] == ["train", "test"] * 3
    with pytest.raises(HarnessError, match=re.escape("option(s) seed of dataset 'csv:")):
        resolve_dataset(f"csv:{path}[seed=3]").manifest()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "dataset CSV '{csv}' is empty: expected a header path,label[,split] and one row per image"),
        ([["path", "label"]], "dataset CSV '{csv}' has no rows: expected a header path,label[,split]"),
        ([["file", "class"]], "dataset CSV '{csv}' lacks column(s) path, label: expected a header"),
        (
            [["path", "x"], ["img/00.png", "a"]],
            "dataset CSV '{csv}' lacks column(s) label: expected a header",
        ),
        (
            [["path", "label"], ["img/00.png", "a"], ["img/07.png", "a"]],
            "row 3 of '{csv}': image '{dir}/img/07.png' does not exist",
        ),
        (
            [["path", "label"], ["img/00.png", "a"], ["img/00.png", "b"]],
            "row 3 of '{csv}': image '{dir}/img/00.png' is already listed in row 2",
        ),
        ([["path", "label"], ["img/00.png", ""]], "row 2 of '{csv}': empty label"),
        (
            [["path", "label", "split"], ["img/00.png", "a", "train"], ["img/01.png", "a", "val"]],
            "row 3 of '{csv}': split 'val' must be train or test",
        ),
    ],
)
def test_csv_errors(shop: Path, rows: list[list[str]], message: str) -> None:
    path = write_csv(shop / "labels.csv", rows)
    with pytest.raises(HarnessError, match=f"^{re.escape(message.format(csv=path, dir=shop))}"):
        resolve_dataset(f"csv:{path}").manifest()


def test_csv_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "labels.csv"
    with pytest.raises(HarnessError, match=f"^{re.escape(f'dataset CSV {str(missing)!r} does not exist')}$"):
        resolve_dataset(f"csv:{missing}").manifest()
