"""Tiny replicas of the paper's six datasets in their official layouts (the publishers' file names and
formats), with the quirks the real files have: a grayscale JPEG, a CMYK JPEG, a truncated file, a PNG with alpha,
upper-case extensions, Chinese folder names, malformed styles.csv rows, ids without images.

Each builder returns the root and what a correct reader must find there. The tests use them, and so does
``ecombench bench-full suites/paper-mini.toml --make-replicas DIR`` (``make_all``: the six under their usual
folder names, as suites/paper.toml expects them under its data folder).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def image(path: Path, colour: int, kind: str = "rgb") -> Path:
    """A small image; ``kind`` is rgb, grey (mode L JPEG), cmyk (CMYK JPEG), alpha (RGBA PNG), truncated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "grey":
        Image.new("L", (12, 10), colour % 256).save(path, "JPEG")
    elif kind == "cmyk":
        Image.new("CMYK", (12, 10), (colour % 256, 0, 90, 0)).save(path, "JPEG")
    elif kind == "alpha":
        Image.new("RGBA", (12, 10), (colour % 256, 5, 5, 100)).save(path, "PNG")
    elif kind == "truncated":
        noise = np.random.default_rng(colour).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        data = io.BytesIO()
        Image.fromarray(noise).save(data, "JPEG")
        path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    else:
        fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
        Image.new("RGB", (12, 10), (colour % 256, (colour * 7) % 256, 40)).save(path, fmt)
    return path


def sop(root: Path) -> Path:
    """Train: products 1 (2 images), 2 (3, one grey), 3 (2, one CMYK); test: 4 (3, one truncated), 5 (2)."""
    rows = {
        "train": [(1, 1, "bicycle_final/111085122871_0.JPG", "rgb"), (1, 1, "bicycle_final/111085122871_1.JPG", "rgb"),
                  (2, 1, "bicycle_final/111265328556_0.JPG", "rgb"), (2, 1, "bicycle_final/111265328556_1.JPG", "grey"),
                  (2, 1, "bicycle_final/111265328556_2.JPG", "rgb"), (3, 3, "chair_final/111182689872_0.JPG", "cmyk"),
                  (3, 3, "chair_final/111182689872_1.JPG", "rgb")],
        "test": [(4, 4, "coffee_maker_final/111737519223_7.JPG", "rgb"),
                 (4, 4, "coffee_maker_final/111737519223_8.JPG", "truncated"),
                 (4, 4, "coffee_maker_final/111737519223_9.JPG", "rgb"),
                 (5, 12, "toaster_final/111157129195_0.JPG", "rgb"),
                 (5, 12, "toaster_final/111157129195_1.JPG", "rgb")],
    }  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    number = 0
    for split, listed in rows.items():
        lines = ["image_id class_id super_class_id path"]
        for class_id, super_id, rel, kind in listed:
            number += 1
            image(root / rel, number * 11, kind)
            lines.append(f"{number} {class_id} {super_id} {rel}")
        (root / f"Ebay_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def _mat_struct(fields: list[str], records: list[dict[str, Any]]) -> np.ndarray:
    """A 1xN MATLAB struct array in loadmat's nesting: every cell a nested array, fields in this order."""
    array = np.zeros((1, len(records)), dtype=[(name, "O") for name in fields])
    for i, record in enumerate(records):
        for name in fields:
            value = record[name]
            array[0, i][name] = np.array([value]) if isinstance(value, str) else np.array([[value]], dtype=np.uint16)
    return array


def _names(count: int = 196) -> np.ndarray:
    names = np.zeros((1, count), dtype="O")
    for i in range(count):
        names[0, i] = np.array([f"Car model {i + 1}"])
    names[0, 98] = np.array(["Ram C/V Cargo Van Minivan 2012"])  # class 99: a name with "/"
    return names


#: (class, test flag, kind) per image of the Cars replica
CARS = [(1, 0, "rgb"), (1, 1, "grey"), (2, 0, "rgb"), (2, 1, "rgb"), (98, 0, "cmyk"), (98, 1, "rgb"),
        (99, 0, "rgb"), (99, 1, "truncated"), (99, 1, "rgb"), (150, 0, "rgb"), (150, 1, "rgb"), (196, 0, "rgb"),
        (196, 1, "rgb")]  # fmt: skip


def cars_all_in_one(root: Path) -> Path:
    import scipy.io

    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    records = []
    for i, (number, test, kind) in enumerate(CARS, start=1):
        rel = f"car_ims/{i:06d}.jpg"
        image(root / rel, i * 13, kind)
        records.append({"relative_im_path": rel, "bbox_x1": 1, "bbox_y1": 2, "bbox_x2": 9, "bbox_y2": 8,
                        "class": number, "test": test})  # fmt: skip
    scipy.io.savemat(
        str(root / "cars_annos.mat"), {"annotations": _mat_struct(fields, records), "class_names": _names()}
    )
    return root


def cars_devkit(root: Path) -> Path:
    """torchvision's layout, under ``root/stanford_cars``."""
    import scipy.io

    base = root / "stanford_cars"
    (base / "devkit").mkdir(parents=True)
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    halves: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for i, (number, test, kind) in enumerate(CARS, start=1):
        fname = f"{len(halves[test]) + 1:05d}.jpg"
        image(base / ("cars_test" if test else "cars_train") / fname, i * 13, kind)
        halves[test].append({"bbox_x1": 1, "bbox_y1": 2, "bbox_x2": 9, "bbox_y2": 8, "class": number, "fname": fname})
    scipy.io.savemat(str(base / "devkit" / "cars_train_annos.mat"), {"annotations": _mat_struct(fields, halves[0])})
    scipy.io.savemat(str(base / "cars_test_annos_withlabels.mat"), {"annotations": _mat_struct(fields, halves[1])})
    scipy.io.savemat(str(base / "devkit" / "cars_meta.mat"), {"class_names": _names()})
    return root


def products10k(root: Path) -> Path:
    """Train SKUs 0, 1, 3 (6 images); test SKUs 0, 1, 5 (5 images, 9397815.jpg truncated)."""
    train: list[tuple[Any, ...]] = [
        ("1.jpg", 0, 0, "rgb"), ("2.jpg", 0, 0, "rgb"), ("3.jpg", 1, 0, "rgb"), ("4.jpg", 1, 0, "grey"),
        ("5.jpg", 3, 1, "cmyk"), ("6.jpg", 3, 1, "rgb"),
    ]  # fmt: skip
    test: list[tuple[Any, ...]] = [
        ("3963142.jpg", 0, "Public", "rgb"), ("9397815.jpg", 1, "Private", "truncated"),
        ("100.jpg", 1, "Public", "rgb"), ("101.jpg", 5, "Private", "rgb"), ("102.jpg", 5, "Public", "rgb"),
    ]  # fmt: skip
    for i, (name, *_, kind) in enumerate(train + test):
        image(root / ("train" if i < len(train) else "test") / name, i * 17 + 3, kind)
    (root / "train.csv").write_text("name,class,group\n" + "".join(f"{n},{c},{g}\n" for n, c, g, _ in train))
    (root / "test_kaggletest.csv").write_text("name,class,Usage\n" + "".join(f"{n},{c},{u}\n" for n, c, u, _ in test))
    return root


#: split -> product folder -> image kinds, for the RP2K replica (file names get a space in one place)
RP2K = {
    "train": {"可口可乐": ["rgb", "grey", "rgb"], "雪碧": ["cmyk", "alpha"], "农夫山泉": []},
    "test": {"可口可乐": ["rgb", "truncated", "rgb"], "王老吉": ["rgb", "rgb"]},
}


def rp2k(root: Path) -> Path:
    """``root/all/{train,test}/<product>/``: an empty class folder, a PNG with alpha, a name with a space."""
    for split, classes in RP2K.items():
        for c, (name, kinds) in enumerate(classes.items()):
            (root / "all" / split / name).mkdir(parents=True, exist_ok=True)
            for i, kind in enumerate(kinds):
                suffix = ".png" if kind == "alpha" else ".jpg"
                image(root / "all" / split / name / f"shelf {i}{suffix}", c * 31 + i * 5 + len(split), kind)
    return root


def food2k(root: Path) -> Path:
    """Classes 0..2; train 5, val 2, test 5 images (one truncated); a stray unlisted image and a user-made
    train.txt that must not be read."""
    images = root / "Food2k_complete"
    lists = {"train": [(0, "rgb"), (0, "grey"), (1, "rgb"), (1, "cmyk"), (2, "rgb")],
             "val": [(0, "rgb"), (2, "rgb")],
             "test": [(0, "rgb"), (1, "rgb"), (1, "truncated"), (2, "rgb"), (2, "rgb")]}  # fmt: skip
    number = 0
    (root / "Food2k_label").mkdir(parents=True)
    for split, listed in lists.items():
        lines = []
        for label, kind in listed:
            number += 1
            image(images / str(label) / f"{1000 + number}.jpg", number * 19, kind)
            lines.append(f"{label}/{1000 + number}.jpg {label}\n")
        (root / "Food2k_label" / f"{split}_finetune.txt").write_text("".join(lines))
    image(images / "1" / "stray.jpg", 3)
    (images / "train.txt").write_text("0/1001.jpg 0\n")
    (images / "food2k_label2name_en.txt").write_text("0000--Braised_pork\n0001--Fried_rice\n0002--Mapo_tofu\n")
    return root


def fashion(root: Path) -> Path:
    """styles.csv with 10 Apparel, 10 Accessories, 3 Footwear (one truncated) and 1 Home image, a row with
    unquoted commas in productDisplayName, a row with too few fields, a literal NA, and an id without image."""
    header = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
    rows, kinds = [], {}
    categories = [
        ("Apparel", "Topwear", 10),
        ("Accessories", "Watches", 10),
        ("Footwear", "Shoes", 3),
        ("Home", "Home", 1),
    ]
    number = 15970
    for category, sub, count in categories:
        for i in range(count):
            number += 1
            name = f"Brand {category} {i}"
            if category == "Apparel" and i == 1:
                name = "Peter England Men Party Blue Jeans, Slim Fit, Washed"  # unquoted commas: 12 fields
            usage = "NA" if category == "Accessories" and i == 0 else "Casual"
            rows.append(f"{number},Men,{category},{sub},{sub},Navy Blue,Fall,2011,{usage},{name}")
            kinds[number] = {("Apparel", 2): "grey", ("Accessories", 3): "cmyk", ("Footwear", 0): "truncated"}.get(
                (category, i), "rgb"
            )
    rows.insert(5, "39403,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,No Image Shirt")  # no image
    rows.insert(7, "59263,Women,Accessories,Watches")  # too few fields
    for image_id, kind in kinds.items():
        image(root / "images" / f"{image_id}.jpg", image_id, kind)
    (root / "styles.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root


#: the usual folder name of each dataset under a data folder (suites/paper.toml's [data]) -> its builder
USUAL = {
    "Stanford_Online_Products": sop,
    "stanford_cars": cars_all_in_one,
    "Products-10K": products10k,
    "RP2K": rp2k,
    "Food2K": food2k,
    "fashion-product-images-small": fashion,
}
COMPLETE = ".replicas-complete"


def make_all(root: Path) -> Path:
    """The six replicas under ``root``; kept as they are once complete (their files' mtimes are part of every
    cell key: a re-run must find the same files), rebuilt from scratch after an interrupted build."""
    import shutil

    if (root / COMPLETE).is_file():
        return root
    for name, build in USUAL.items():
        shutil.rmtree(root / name, ignore_errors=True)
        (root / name).mkdir(parents=True)
        build(root / name)
    (root / COMPLETE).write_text("tiny replicas of the paper's six datasets (harness.compute.datasets.replicas)\n")
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes (magic 0x0000080<dims>, big-endian sizes, then the uint8 data), as Zalando's."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fashion_mnist(root: Path, train: int = 30, test: int = 20) -> Path:
    """Zalando's four gzipped IDX files with ``train`` and ``test`` images, labels cycling through 0..9;
    every image differs (its pixels encode split and index)."""
    import gzip

    root.mkdir(parents=True, exist_ok=True)
    for prefix, count, salt in (("train", train, 0), ("t10k", test, 1)):
        rng = np.random.default_rng(salt)
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        labels = np.arange(count) % 10
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root
