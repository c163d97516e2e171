"""The dataset registry: every dataset id a user may write, resolved lazily to its Dataset class.

Listing reads ``DATASET_KINDS`` only, so it imports nothing heavy (no PIL, numpy, sklearn or torch);
``resolve_dataset`` imports just the module of the kind it resolves. Adding a dataset (say the paper's
Stanford Online Products) is one module with a Dataset class that has ``from_ref(ref)`` and ``OPTIONS``,
plus one entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from harness.core.errors import HarnessError
from harness.spec.ids import Ref, parse_ref
from harness.storage.workdir import DEFAULT

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset


#: the workdir of a run that names none (the CLI's --workdir default)
DEFAULT_WORKDIR = DEFAULT


class DatasetKind(NamedTuple):
    """Where a dataset kind lives and how it is written.

    Attributes:
        module: import path of the module holding the Dataset class.
        class_name: the Dataset subclass; it provides ``from_ref(ref)`` and ``OPTIONS``.
        description: one line for listings; names every option the kind accepts.
        name: placeholder for the part after ":" (e.g. "PATH"), or "" for a kind that takes no name.
    """

    module: str
    class_name: str
    description: str
    name: str = ""


DATASET_KINDS: dict[str, DatasetKind] = {
    "digits": DatasetKind(
        "harness.compute.datasets.digits",
        "DigitsDataset",
        "sklearn's 1,797 real 8x8 handwritten digits as 32x32 RGB, 10 classes [per_class, test_fraction, seed]",
    ),
    "synthetic": DatasetKind(
        "harness.compute.datasets.synthetic",
        "SyntheticDataset",
        "generated product-like images: class = shape x colour [classes, per_class, size, seed, test_fraction]",
    ),
    "folder": DatasetKind(
        "harness.compute.datasets.folder",
        "FolderDataset",
        "one sub-folder per class, or train/ and test/ each holding class folders [test_fraction, seed]",
        name="PATH",
    ),
    "csv": DatasetKind(
        "harness.compute.datasets.csv_dataset",
        "CsvDataset",
        "a CSV with header path,label[,split]; paths relative to the CSV's folder [test_fraction, seed, allow_outside]",
        name="PATH",
    ),
    # The paper's six, each read from the layout its authors publish (``ecombench datasets prepare`` once).
    "sop": DatasetKind(
        "harness.compute.datasets.sop",
        "SopDataset",
        "Stanford Online Products: Ebay_train.txt / Ebay_test.txt + image folders",
        name="PATH",
    ),
    "cars196": DatasetKind(
        "harness.compute.datasets.cars196",
        "Cars196Dataset",
        "Stanford Cars: car_ims/ + cars_annos.mat, or the devkit layout "
        "[split=metric_learning (classes 1-98 / 99-196) | classification]",
        name="PATH",
    ),
    "products10k": DatasetKind(
        "harness.compute.datasets.products10k",
        "Products10kDataset",
        "Products-10K: train/ + train.csv, test/ + test_kaggletest.csv",
        name="PATH",
    ),
    "rp2k": DatasetKind(
        "harness.compute.datasets.rp2k",
        "Rp2kDataset",
        "RP2K: [all/]train/<product>/..., [all/]test/<product>/...",
        name="PATH",
    ),
    "food2k": DatasetKind(
        "harness.compute.datasets.food2k",
        "Food2kDataset",
        "Food2K: Food2k_complete/<class>/... + Food2k_label/{train,test}_finetune.txt [val=drop|train]",
        name="PATH",
    ),
    "fashion": DatasetKind(
        "harness.compute.datasets.fashion",
        "FashionDataset",
        "Fashion Product Images (Small): styles.csv + images/<id>.jpg "
        "[label=masterCategory, min_class_size=10, test_fraction, seed]",
        name="PATH",
    ),
    "fashion_mnist": DatasetKind(
        "harness.compute.datasets.fashion_mnist",
        "FashionMnistDataset",
        "Zalando's Fashion-MNIST: the four official IDX files (official 60k/10k split, 10 classes) [per_class]",
        name="PATH",
    ),
}


def _pattern(kind: str, entry: DatasetKind) -> str:
    return f"{kind}:{entry.name}" if entry.name else kind


def list_datasets() -> list[tuple[str, str]]:
    """(id pattern, description) of every registered kind, e.g. ("folder:PATH", "one sub-folder ...")."""
    return [(_pattern(kind, entry), entry.description) for kind, entry in DATASET_KINDS.items()]


def resolve_dataset(text: str, workdir: Path | None = None) -> Dataset:
    """Parse a dataset id and build its Dataset; nothing is read from disk until ``manifest()``. Prepared
    manifests are looked for in ``<workdir>/manifests`` (default workdir: ``.ecombench``).

    Raises:
        HarnessError: a malformed id, an unknown kind, a missing or unexpected name, or an unknown or
            invalid option.
    """
    ref = parse_ref(text, "dataset")
    entry = DATASET_KINDS.get(ref.kind)
    if entry is None:
        known = ", ".join(_pattern(kind, e) for kind, e in DATASET_KINDS.items())
        raise HarnessError(f"unknown dataset {text.strip()!r}: known kinds are {known}")
    if entry.name and not ref.name:
        raise HarnessError(f"dataset id {text.strip()!r} lacks its {entry.name}: write {_pattern(ref.kind, entry)}")
    if ref.name and not entry.name:
        raise HarnessError(f"dataset id {text.strip()!r} takes no name after ':': write {ref.kind}[...]")
    module = importlib.import_module(entry.module)
    from_ref: Callable[[Ref], Dataset] = getattr(module, entry.class_name).from_ref
    dataset = from_ref(ref)
    from harness.compute.datasets.prepare import ManifestFolder, manifests_dir

    dataset.use_manifests(ManifestFolder(manifests_dir(workdir or DEFAULT_WORKDIR)))  # files' manifests: workdir's
    return dataset
