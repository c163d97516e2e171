"""The paper's six datasets, read from tiny replicas of their official layouts (tests/support/replicas.py): exact
counts, labels, splits, quirks, and the one message a wrong layout gives."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.base import Manifest
from harness.core.errors import HarnessError
from support import replicas


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default workdir (.ecombench, which holds the prepared manifests) inside the test's folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".ecombench"


def per_split(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {row["split"]: (row["images"], row["classes"]) for row in report["splits"]}


def per_class(manifest: Manifest) -> Counter[tuple[str, int, str]]:
    return Counter((item.split, item.label, item.class_name) for item in manifest.items)


def test_sop(tmp_path: Path) -> None:
    root = replicas.sop(tmp_path / "Stanford_Online_Products")
    dataset = resolve_dataset(f"sop:{root}")
    manifest, report = dataset.manifest(), dataset.report()  # type: ignore[attr-defined]
    # class_id is 1-based; labels are class_id - 1; train and test classes are disjoint
    assert per_class(manifest) == {("train", 0, "1"): 2, ("train", 1, "2"): 3, ("train", 2, "3"): 2,
                                   ("test", 3, "4"): 2, ("test", 4, "5"): 2}  # fmt: skip
    assert per_split(report) == {"train": (7, 3), "test": (4, 2), "all": (11, 5)}
    assert manifest.items[0].key == "bicycle_final/111085122871_0.JPG"  # upper-case .JPG, listing order
    assert manifest.excluded == report["excluded"] == 1 and report["listed"] == 12
    [(key, error)] = report["corrupt"]
    assert key == "coffee_maker_final/111737519223_8.JPG"
    assert error.startswith(f"cannot decode image '{root / key}': ")
    assert report["modes"] == {"CMYK": 1, "L": 1, "RGB": 9}
    assert report["split"] == {"protocol": "official: Ebay_train.txt / Ebay_test.txt"}
    grey = next(item for item in manifest.items if item.key.endswith("111265328556_1.JPG"))
    r, g, b = dataset.load_image(grey).getpixel((3, 3))
    assert r == g == b
    # the root may also be the folder the zip was unpacked in
    parent = resolve_dataset(f"sop:{tmp_path}").manifest()
    assert [item.key for item in parent.items] == [f"Stanford_Online_Products/{item.key}" for item in manifest.items]


def test_cars196_all_in_one_both_protocols(tmp_path: Path) -> None:
    root = replicas.cars_all_in_one(tmp_path / "cars")
    dml = resolve_dataset(f"cars196:{root}")
    names = {1: "Car model 1", 2: "Car model 2", 98: "Car model 98", 99: "Ram C/V Cargo Van Minivan 2012",
             150: "Car model 150", 196: "Car model 196"}  # fmt: skip
    labels = {number: label for label, number in enumerate(names)}  # classes present, in class order
    assert {(item.label, item.class_name) for item in dml.manifest().items} == {(labels[n], names[n]) for n in names}
    # metric learning: classes 1-98 train, 99-196 test, whatever the test flag says; 000008.jpg is truncated
    assert per_class(dml.manifest()) == {
        ("train", labels[1], names[1]): 2, ("train", labels[2], names[2]): 2, ("train", labels[98], names[98]): 2,
        ("test", labels[99], names[99]): 2, ("test", labels[150], names[150]): 2,
        ("test", labels[196], names[196]): 2,
    }  # fmt: skip
    assert [key for key, _ in dml.report()["corrupt"]] == ["car_ims/000008.jpg"]  # type: ignore[attr-defined]
    classification = resolve_dataset(f"cars196:{root}[split=classification]").manifest()
    expected = {(split, labels[n], names[n]): 1 for n in names for split in ("train", "test")}
    assert per_class(classification) == expected  # class 99's second test image is the truncated one
    assert [item.split for item in classification.items[:4]] == ["train", "test", "train", "test"]
    with pytest.raises(HarnessError, match=re.escape("option split='dml' in dataset id 'cars196:")):
        resolve_dataset(f"cars196:{root}[split=dml]")


def test_cars196_devkit_layout_reads_as_the_original(tmp_path: Path) -> None:
    devkit = resolve_dataset(f"cars196:{replicas.cars_devkit(tmp_path / 'devkit')}").manifest()
    original = resolve_dataset(f"cars196:{replicas.cars_all_in_one(tmp_path / 'cars')}").manifest()
    assert per_class(devkit) == per_class(original)
    assert devkit.items[0].key == "stanford_cars/cars_train/00001.jpg"  # found below the torchvision folder
    assert devkit.excluded == 1
    test = resolve_dataset(f"cars196:{tmp_path / 'devkit'}[split=classification]").manifest()
    assert Counter(item.split for item in test.items) == {"train": 6, "test": 6}


def test_products10k(tmp_path: Path) -> None:
    dataset = resolve_dataset(f"products10k:{replicas.products10k(tmp_path / 'p10k')}")
    manifest, report = dataset.manifest(), dataset.report()  # type: ignore[attr-defined]
    # SKU ids 0, 1, 3, 5 -> labels 0..3; SKU 3 is train-only, SKU 5 test-only; 9397815.jpg is truncated
    assert per_class(manifest) == {("train", 0, "0"): 2, ("train", 1, "1"): 2, ("train", 2, "3"): 2,
                                   ("test", 0, "0"): 1, ("test", 1, "1"): 1, ("test", 3, "5"): 2}  # fmt: skip
    assert per_split(report) == {"train": (6, 3), "test": (4, 3), "all": (10, 4)}
    assert [key for key, _ in report["corrupt"]] == ["test/9397815.jpg"]
    assert [item.key for item in manifest.items][5:7] == ["train/6.jpg", "test/3963142.jpg"]


def test_rp2k(tmp_path: Path) -> None:
    dataset = resolve_dataset(f"rp2k:{replicas.rp2k(tmp_path / 'rp2k')}")
    manifest, report = dataset.manifest(), dataset.report()  # type: ignore[attr-defined]
    labels = {name: label for label, name in enumerate(sorted(["可口可乐", "雪碧", "王老吉"]))}
    cola, sprite, wlj = "可口可乐", "雪碧", "王老吉"
    assert per_class(manifest) == {("train", labels[cola], cola): 3, ("train", labels[sprite], sprite): 2,
                                   ("test", labels[cola], cola): 2, ("test", labels[wlj], wlj): 2}  # fmt: skip
    assert report["notes"] == {"empty class folders skipped": 1}
    assert [key for key, _ in report["corrupt"]] == ["all/test/可口可乐/shelf 1.jpg"]
    alpha = next(item for item in manifest.items if item.key == "all/train/雪碧/shelf 1.png")
    assert dataset.load_image(alpha).mode == "RGB" and report["modes"]["RGBA"] == 1


def test_food2k(tmp_path: Path) -> None:
    root = replicas.food2k(tmp_path / "food")
    dataset = resolve_dataset(f"food2k:{root}")
    manifest, report = dataset.manifest(), dataset.report()  # type: ignore[attr-defined]
    names = ["Braised pork", "Fried rice", "Mapo tofu"]
    pork, rice, tofu = names
    assert per_class(manifest) == {("train", 0, pork): 2, ("train", 1, rice): 2, ("train", 2, tofu): 1,
                                   ("test", 0, pork): 1, ("test", 1, rice): 1, ("test", 2, tofu): 2}  # fmt: skip
    assert report["listed"] == 10  # val left out; the stray image and the user-made train.txt are not read
    assert [key for key, _ in report["corrupt"]] == ["Food2k_complete/1/1010.jpg"]
    with_val = resolve_dataset(f"food2k:{root}[val=train]").manifest()
    assert Counter(item.split for item in with_val.items) == {"train": 7, "test": 4}
    # the lists moved next to the images, the root being the image folder itself
    for path in (root / "Food2k_label").iterdir():
        shutil.move(path, root / "Food2k_complete" / path.name)
    moved = resolve_dataset(f"food2k:{root / 'Food2k_complete'}").manifest()
    assert [item.key for item in moved.items] == [item.key.removeprefix("Food2k_complete/") for item in manifest.items]


def test_fashion(tmp_path: Path) -> None:
    root = replicas.fashion(tmp_path / "fashion")
    dataset = resolve_dataset(f"fashion:{root}")
    manifest, report = dataset.manifest(), dataset.report()  # type: ignore[attr-defined]
    # default label masterCategory, min_class_size 10: Footwear (2 readable) and Home (1) dropped
    assert per_class(manifest) == {("train", 0, "Accessories"): 5, ("train", 1, "Apparel"): 5,
                                   ("test", 0, "Accessories"): 5, ("test", 1, "Apparel"): 5}  # fmt: skip
    assert report["dropped_classes"] == [["Footwear", 2], ["Home", 1]]
    assert report["notes"] == {
        "rows repaired (unquoted commas in the last column, joined back)": 1,
        "rows skipped (fewer fields than the header)": 1,
    }
    assert report["missing"] == ["images/39403.jpg"] and [key for key, _ in report["corrupt"]] == ["images/15991.jpg"]
    assert manifest.excluded == 2
    keys = {item.key for item in manifest.items}
    assert {"images/15972.jpg", "images/15981.jpg"} <= keys  # the repaired row; the row whose usage is "NA"
    assert report["split"] == {
        "protocol": "seeded stratified split (test_fraction=0.5, seed=0)",
        "test_fraction": 0.5,
        "seed": 0,
    }
    small = resolve_dataset(f"fashion:{root}[min_class_size=2]").manifest()
    reseeded = resolve_dataset(f"fashion:{root}[min_class_size=2,seed=3]").manifest()
    assert Counter((item.split, item.class_name) for item in small.items)[("test", "Footwear")] == 1
    assert [item.key for item in small.items] == [item.key for item in reseeded.items]
    assert [item.split for item in small.items] != [item.split for item in reseeded.items]
    assert per_class(small) == per_class(reseeded)
    by_gender = resolve_dataset(f"fashion:{root}[label=gender,min_class_size=1]").manifest()
    assert {item.class_name for item in by_gender.items} == {"Men"} and len(by_gender.items) == 23
    message = (
        f"option label='colour' in dataset id 'fashion:{root}[label=colour]' is not a column of "
        f"'{root / 'styles.csv'}' (columns: gender, masterCategory, subCategory, articleType, baseColour, "
        "season, year, usage, productDisplayName)"
    )
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        resolve_dataset(f"fashion:{root}[label=colour]").manifest()


SOP_SOURCE = (
    "Stanford Online Products is published at https://cvgl.stanford.edu/projects/lifted_struct/: download "
    "Stanford_Online_Products.zip (ftp://cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip) and pass the "
    "unzipped Stanford_Online_Products folder as the root."
)


def _layouts(tmp: Path) -> list[tuple[str, str]]:
    """(dataset id, exact message) for a wrong or incomplete layout of each dataset."""
    (tmp / "empty").mkdir()
    p10k = replicas.products10k(tmp / "p10k")
    (p10k / "test_kaggletest.csv").unlink()
    rp2k = replicas.rp2k(tmp / "rp2k")
    shutil.rmtree(rp2k / "all" / "test")
    food = replicas.food2k(tmp / "food")
    (food / "Food2k_label" / "test_finetune.txt").unlink()
    empty, missing = tmp / "empty", tmp / "nowhere"
    return [
        (f"sop:{empty}", f"Stanford Online Products: expected file '{empty}/Ebay_train.txt' is missing (also looked "
                         f"for '{empty}/Stanford_Online_Products/Ebay_train.txt'). {SOP_SOURCE}"),
        (f"sop:{missing}", f"Stanford Online Products: expected file '{missing}/Ebay_train.txt' is missing: the root "
                           f"'{missing}' does not exist. {SOP_SOURCE}"),
        (f"cars196:{empty}", f"Stanford Cars (Cars196): expected file '{empty}/cars_annos.mat' is missing (also looked "
                             f"for '{empty}/devkit/cars_train_annos.mat', '{empty}/stanford_cars/cars_annos.mat'). "
                             "Stanford Cars (Cars196) is published at http://ai.stanford.edu/~jkrause/car196/: "
                             "car_ims.tgz + cars_annos.mat, or"),
        (f"products10k:{p10k}", f"Products-10K: expected file '{p10k}/test_kaggletest.csv' is missing. Products-10K "
                                "is published at https://products-10k.github.io/: train.zip, test.zip, train.csv and "
                                "test_kaggletest.csv"),
        (f"rp2k:{rp2k}", f"RP2K: expected folder '{rp2k}/all/test' is missing. RP2K is published at "
                         "https://www.pinlandata.com/rp2k_dataset: rp2k_dataset.zip; pass the unzipped all/ folder, "
                         "or the folder holding it, as the root."),
        (f"food2k:{food}", f"Food2K: expected file '{food}/Food2k_label/test_finetune.txt' is missing (also looked "
                           f"for '{food}/test_finetune.txt', '{food}/Food2k_complete/test_finetune.txt'). Food2K is "
                           "published at http://123.57.42.89/FoodProject.html: Food2k_complete.tar.gz and"),
        (f"fashion:{empty}", f"Fashion Product Images (Small): expected file '{empty}/styles.csv' is missing (also "
                             f"looked for '{empty}/myntradataset/styles.csv', '{empty}/fashion-dataset/styles.csv'). "
                             "Fashion Product Images (Small) is published at "
                             "https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small: the Kaggle"),
    ]  # fmt: skip


def test_wrong_layouts_name_the_file_and_the_publisher(tmp_path: Path) -> None:
    for dataset_id, message in _layouts(tmp_path):
        with pytest.raises(HarnessError, match=f"^{re.escape(message)}"):
            resolve_dataset(dataset_id).manifest()


def test_a_listed_image_that_is_absent(tmp_path: Path) -> None:
    root = replicas.sop(tmp_path / "sop")
    (root / "chair_final" / "111182689872_1.JPG").unlink()
    message = (
        f"line 8 of '{root}/Ebay_train.txt': image '{root}/chair_final/111182689872_1.JPG' does not exist; the "
        f"download looks incomplete. {SOP_SOURCE}"
    )
    with pytest.raises(HarnessError, match=f"^{re.escape(message)}$"):
        resolve_dataset(f"sop:{root}").manifest()
    replicas.image(root / "chair_final" / "111182689872_1.JPG", 1)
    (root / "Ebay_test.txt").write_text("image_id class_id super_class_id path\n9 x 1 a.JPG\n")
    with pytest.raises(HarnessError, match=re.escape(f"line 2 of '{root}/Ebay_test.txt': expected 'image_id class")):
        resolve_dataset(f"sop:{root}").manifest()
