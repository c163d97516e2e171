"""``cars196:PATH``: Stanford Cars (Krause et al. 2013), 196 classes, from either published layout.

PATH holds one of (the torchvision ``stanford_cars/`` folder below PATH is found too):

- the original all-in-one release: ``cars_annos.mat`` + ``car_ims/000001.jpg`` ... (16,185 images).
  ``annotations`` is a 1xN struct array (relative_im_path, bbox_x1, bbox_y1, bbox_x2, bbox_y2, class,
  test); ``class_names`` gives the names;
- the devkit (classification) release: ``devkit/cars_train_annos.mat`` (fields ..., class, fname) with
  ``cars_train/``, ``cars_test_annos_withlabels.mat`` (in PATH or ``devkit/``) with ``cars_test/``, and
  ``devkit/cars_meta.mat`` (``class_names``). The devkit's ``cars_test_annos.mat`` has no labels and is
  not read. Image numbering differs between the two releases; each is read with its own annotations.

- Split, option ``split``: ``metric_learning`` (default), the deep-metric-learning protocol: classes
  1-98 train (8,054 images), 99-196 test (8,131), pooling both halves of the classification split and
  ignoring its test flag; ``classification``: the official 8,144 / 8,041 split (the ``test`` flag, or
  the cars_train/cars_test folders), every class in both.
- Evaluation split: ``test``; Cars196 defines no query/gallery split: retrieval is leave-one-out over test.
- Labels: the 1-based ``class`` minus one (the rank among the classes kept), the same in both layouts;
  ``class_name`` from ``class_names`` (some contain "/"), or the class number where a file lacks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.compute.datasets.base import CLASS_FIELD
from harness.compute.datasets.files import Entry, FileDataset, Notes, Source, join_key, root_of
from harness.compute.datasets.options import choice_option
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

SOURCE = Source(
    "Stanford Cars (Cars196)",
    "http://ai.stanford.edu/~jkrause/car196/",
    "car_ims.tgz + cars_annos.mat, or cars_train.tgz + cars_test.tgz + car_devkit.tgz + "
    "cars_test_annos_withlabels.mat (the original site has been offline since about 2023; mirrors carry the "
    "same files); pass the folder holding them, unpacked, as the root",
)
SPLITS = ("metric_learning", "classification")
PREFIXES = ("", "stanford_cars")
ALL_IN_ONE, DEVKIT_TRAIN = "cars_annos.mat", "devkit/cars_train_annos.mat"
TEST_WITH_LABELS = "cars_test_annos_withlabels.mat"
LAST_TRAIN_CLASS = 98  # metric learning: 1-based classes 1..98 train, 99..196 test


def _scalar(value: Any) -> Any:
    """Unwrap loadmat's nesting (``array([[112]])``, ``array(['car_ims/000001.jpg'])``) to one value."""
    import numpy as np

    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected one value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def _load(path: Path, variable: str, fields: tuple[str, ...]) -> Any:
    """The 1-D struct array ``variable`` of a MATLAB file, checked to have ``fields``."""
    import numpy as np
    import scipy.io

    try:
        records = scipy.io.loadmat(str(path))[variable]
    except KeyError:
        raise HarnessError(f"MATLAB file '{path}' has no variable '{variable}'") from None
    except (OSError, ValueError, TypeError) as exc:
        raise HarnessError(f"cannot read MATLAB file '{path}': {exc}") from exc
    records = np.asarray(records).reshape(-1)
    missing = [name for name in fields if name not in (records.dtype.names or ())]
    if missing:
        raise HarnessError(f"'{variable}' in '{path}' lacks field(s) {', '.join(missing)}")
    return records


def _names(path: Path) -> dict[int, str]:
    """1-based class number -> name from a ``class_names`` cell array; {} when the file has none."""
    import numpy as np
    import scipy.io

    if not path.is_file():
        return {}
    names = scipy.io.loadmat(str(path)).get("class_names")
    if names is None:
        return {}
    return {number: str(_scalar(name)) for number, name in enumerate(np.asarray(names).reshape(-1), start=1)}


@dataclass
class Cars196Dataset(FileDataset):
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"split"})
    SOURCE: ClassVar[Source | None] = SOURCE
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD,)  # "AM General Hummer SUV 2000", as CLIP_benchmark

    split: str = "metric_learning"

    @classmethod
    def from_ref(cls, ref: Ref) -> Cars196Dataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        return cls(str(ref), root_of(ref), choice_option(ref, "split", SPLITS, "metric_learning"))

    def _layout(self) -> tuple[Path, str]:
        """(base folder, "all-in-one" or "devkit")."""
        root = Path(self.root)
        for prefix in PREFIXES:
            base = root / prefix if prefix else root
            if (base / ALL_IN_ONE).is_file():
                return base, "all-in-one"
            if (base / DEVKIT_TRAIN).is_file():
                return base, "devkit"
        raise self.layout_error(root / ALL_IN_ONE, [root / DEVKIT_TRAIN, root / PREFIXES[1] / ALL_IN_ONE])

    def _test_annotations(self, base: Path) -> Path:
        candidates = [base / TEST_WITH_LABELS, base / "devkit" / TEST_WITH_LABELS]
        for path in candidates:
            if path.is_file():
                return path
        raise self.layout_error(candidates[0], candidates[1:])

    def annotation_files(self) -> list[Path]:
        base, layout = self._layout()
        if layout == "all-in-one":
            return [base / ALL_IN_ONE]
        return [base / DEVKIT_TRAIN, self._test_annotations(base), base / "devkit" / "cars_meta.mat"]

    def describe_split(self) -> str:
        if self.split == "classification":
            return "classification: the official train/test split (8,144 / 8,041 images in the full dataset)"
        return "metric learning: classes 1-98 train, 99-196 test"

    def _split(self, number: int, test: bool) -> str:
        if self.split == "classification":
            return "test" if test else "train"
        return "train" if number <= LAST_TRAIN_CLASS else "test"

    def entries(self, notes: Notes) -> Iterator[Entry]:
        base, layout = self._layout()
        prefix = self.prefix(base)
        if layout == "all-in-one":
            path = base / ALL_IN_ONE
            names = _names(path)
            records = _load(path, "annotations", ("relative_im_path", "class", "test"))
            sources: list[tuple[Path, Any, str, str, bool | None]] = [(path, records, "relative_im_path", "", None)]
        else:
            names = _names(base / "devkit" / "cars_meta.mat")
            test_path = self._test_annotations(base)
            sources = [
                (base / DEVKIT_TRAIN, _load(base / DEVKIT_TRAIN, "annotations", ("class", "fname")), "fname",
                 "cars_train/", False),
                (test_path, _load(test_path, "annotations", ("class", "fname")), "fname", "cars_test/", True),
            ]  # fmt: skip
        for path, records, path_field, folder, is_test in sources:
            for number, record in enumerate(records, start=1):
                where = f"record {number} of 'annotations' in '{path}'"
                try:
                    image, class_number = str(_scalar(record[path_field])), int(_scalar(record["class"]))
                    test = bool(_scalar(record["test"])) if is_test is None else is_test
                except (ValueError, TypeError) as exc:
                    raise HarnessError(f"{where}: {exc}") from exc
                class_name = names.get(class_number, str(class_number))
                yield Entry(
                    join_key(prefix, folder + image), class_name, class_number, self._split(class_number, test), where
                )
