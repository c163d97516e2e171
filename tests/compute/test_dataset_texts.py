"""The texts each dataset declares, read from replicas of the official layouts: Fashion's titles (the repaired
unquoted-comma row joined back) and columns, SOP's super-classes, RP2K's Chinese names, Cars196's class names,
Food2K's English names and their absence, a csv: text column and a folder: titles file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compute.datasets import replicas, resolve_dataset
from harness.compute.datasets.base import CLASS_FIELD
from harness.core.errors import HarnessError


def test_fashion_titles_and_columns(tmp_path: Path) -> None:
    dataset = resolve_dataset(f"fashion:{replicas.fashion(tmp_path / 'f')}", tmp_path / "work")
    assert dataset.text_fields()[:2] == (CLASS_FIELD, "title") and "baseColour" in dataset.text_fields()
    keys = {item.key for item in dataset.manifest().items}
    titles = dataset.texts("title")
    assert titles.by_key["images/15972.jpg"] == "Peter England Men Party Blue Jeans, Slim Fit, Washed"
    assert keys <= set(titles.by_key) and titles.language == "en" and titles.source == "styles.csv productDisplayName"
    assert set(dataset.texts("baseColour").by_key.values()) == {"Navy Blue"}
    assert set(dataset.texts(CLASS_FIELD).by_key.values()) == {"Apparel", "Accessories"}  # classes under 10 dropped
    before = titles.digest
    styles = tmp_path / "f" / "styles.csv"
    styles.write_text(styles.read_text().replace("Brand Apparel 0", "Brand Apparel Zero"))
    assert dataset.texts("title").digest != before  # a changed title changes the texts' digest


def test_sop_categories_rp2k_names_and_cars_classes(tmp_path: Path) -> None:
    sop = resolve_dataset(f"sop:{replicas.sop(tmp_path / 'sop')}", tmp_path / "work")
    assert sop.text_fields() == ("category",)
    assert set(sop.texts("category").by_key.values()) == {"coffee maker", "toaster", "bicycle", "chair"}
    with pytest.raises(HarnessError, match=r"has no text field 'class' \(its text fields: category\)"):
        sop.texts(CLASS_FIELD)
    rp2k = resolve_dataset(f"rp2k:{replicas.rp2k(tmp_path / 'rp2k')}", tmp_path / "work")
    names = rp2k.texts(CLASS_FIELD)
    assert names.language == "zh" and any("\u4e00" <= ch <= "\u9fff" for n in names.by_key.values() for ch in n)
    cars = resolve_dataset(f"cars196:{replicas.cars_all_in_one(tmp_path / 'cars')}", tmp_path / "work")
    manifest = cars.manifest()
    assert cars.texts(CLASS_FIELD).by_key == {item.key: item.class_name for item in manifest.items}
    products = resolve_dataset(f"products10k:{replicas.products10k(tmp_path / 'p')}", tmp_path / "work")
    assert products.text_fields() == ()


def test_food2k_names_only_with_its_names_file(tmp_path: Path) -> None:
    root = replicas.food2k(tmp_path / "food")
    food = resolve_dataset(f"food2k:{root}", tmp_path / "work")
    names = [p for p in root.rglob("food2k_label2name_en.txt")]
    assert food.text_fields() == ((CLASS_FIELD,) if names else ())
    for path in names:
        path.unlink()
    assert food.text_fields() == ()


def test_csv_text_column_and_folder_titles_file(tmp_path: Path) -> None:
    replicas.image(tmp_path / "shop" / "shoes" / "a.jpg", 10)
    replicas.image(tmp_path / "shop" / "shoes" / "b.jpg", 20)
    replicas.image(tmp_path / "shop" / "bags" / "c.jpg", 30)
    folder = resolve_dataset(f"folder:{tmp_path / 'shop'}", tmp_path / "work")
    assert folder.text_fields() == (CLASS_FIELD,)
    (tmp_path / "shop" / "titles.csv").write_text("path,text\nshoes/a.jpg,Red running shoe\n./bags/c.jpg,Tote\n")
    assert folder.text_fields() == (CLASS_FIELD, "title")
    assert folder.texts("title").by_key == {"shoes/a.jpg": "Red running shoe", "bags/c.jpg": "Tote"}
    listed = tmp_path / "shop" / "items.csv"
    listed.write_text("path,label,text\nshoes/a.jpg,shoe,Red running shoe\nshoes/b.jpg,shoe,\n")
    catalogue = resolve_dataset(f"csv:{listed}", tmp_path / "work")
    assert catalogue.text_fields() == (CLASS_FIELD, "title")
    assert catalogue.texts("title").by_key == {"shoes/a.jpg": "Red running shoe"}  # an empty text is no title
    listed.write_text("path,label,text\nshoes/a.jpg,shoe,One\nshoes/a.jpg,shoe,Two\n")
    with pytest.raises(HarnessError, match=r"row 3 of '.*items.csv': 'shoes/a.jpg' has two different texts"):
        catalogue.texts("title")
