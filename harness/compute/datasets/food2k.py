"""``food2k:PATH``: Food2K (Min et al., TPAMI 2023), 2,000 food classes, from its published layout.

The images come in ``Food2k_complete.tar.gz``, the split lists in ``Food2k_label.tar.gz``. PATH is the
folder both were unpacked in, or the ``Food2k_complete`` folder itself::

    Food2k_complete/<class id>/<image>.jpg        one folder per class, 0 .. 1999
    Food2k_complete/food2k_label2name_en.txt      "<zero-padded id>--<English_name>" (optional)
    Food2k_label/{train,val,test}_finetune.txt    "<class id>/<image>.jpg <label>", no header

The lists are looked for in ``PATH/Food2k_label/``, then PATH, then the image folder (users often move
them next to the images). Files named ``train.txt``/``test.txt`` are user-made random splits and are not
read; neither are stray images not listed.

- Split: train = ``train_finetune.txt``, test = ``test_finetune.txt``. The official validation list is
  left out by default (our top-tuning carves its validation split out of train); option ``val=train``
  adds it to train.
- Evaluation split: ``test``. Food2K is a classification benchmark and defines no query/gallery split:
  retrieval is leave-one-out over test.
- Labels: the list's 0-based integer label (not the folder name, although they agree [C]), as the rank
  among the labels kept, i.e. the label itself when all 2,000 classes keep images. ``class_name`` is the
  English name from ``food2k_label2name_en.txt`` ("_" read as a space) when that file is present, else
  the label. Those English names are the dataset's texts (field ``class``); without the file it has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.base import CLASS_FIELD
from harness.compute.datasets.files import Entry, FileDataset, Notes, Source, join_key, root_of
from harness.compute.datasets.options import choice_option
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

SOURCE = Source(
    "Food2K",
    "http://123.57.42.89/FoodProject.html",
    "Food2k_complete.tar.gz and Food2k_label.tar.gz, available from the authors on request; unpack both into "
    "one folder and pass it as the root",
)
IMAGES, LABELS = "Food2k_complete", "Food2k_label"
NAMES = "food2k_label2name_en.txt"
VAL = ("drop", "train")
_NAME_LINE = re.compile(r"^\s*(\d+)--(.+?)\s*$")


@dataclass
class Food2kDataset(FileDataset):
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"val"})
    SOURCE: ClassVar[Source | None] = SOURCE

    val: str = "drop"

    @classmethod
    def from_ref(cls, ref: Ref) -> Food2kDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        return cls(str(ref), root_of(ref), choice_option(ref, "val", VAL, "drop"))

    def _images(self) -> Path:
        root = Path(self.root)
        return root / IMAGES if (root / IMAGES).is_dir() else root

    def _list(self, name: str) -> Path:
        root = Path(self.root)
        candidates = list(dict.fromkeys([root / LABELS / name, root / name, self._images() / name]))
        for path in candidates:
            if path.is_file():
                return path
        raise self.layout_error(candidates[0], candidates[1:])

    def _lists(self) -> dict[str, list[Path]]:
        lists = {"train": [self._list("train_finetune.txt")], "test": [self._list("test_finetune.txt")]}
        if self.val == "train":
            lists["train"].append(self._list("val_finetune.txt"))
        return lists

    def _names_file(self) -> Path | None:
        for folder in (self._images(), self._list("train_finetune.txt").parent):
            if (folder / NAMES).is_file():
                return folder / NAMES
        return None

    def text_fields(self) -> tuple[str, ...]:
        """The English class names, where ``food2k_label2name_en.txt`` is present (else classes are numbers). A
        folder not there yet (a dry run before the download) is assumed complete: its run checks again."""
        try:
            return (CLASS_FIELD,) if self._names_file() is not None else ()
        except HarnessError:
            return (CLASS_FIELD,)

    def annotation_files(self) -> list[Path]:
        names = self._names_file()
        return [path for paths in self._lists().values() for path in paths] + ([names] if names else [])

    def describe_split(self) -> str:
        val = "val_finetune.txt in train" if self.val == "train" else "val_finetune.txt left out"
        return f"official: train_finetune.txt / test_finetune.txt ({val})"

    def _class_names(self) -> dict[int, str]:
        path = self._names_file()
        if path is None:
            return {}
        names: dict[int, str] = {}
        with path.open(encoding="utf-8-sig") as file:
            for line in file:
                if match := _NAME_LINE.match(line):
                    names[int(match[1])] = match[2].replace("_", " ")
        return names

    def entries(self, notes: Notes) -> Iterator[Entry]:
        lists = self._lists()  # every list is checked before the first image is yielded
        names = self._class_names()
        if not names:
            notes[f"{NAMES} not found: classes named by their label"] += 1
        prefix = self.prefix(self._images())
        for split, paths in lists.items():
            for path in paths:
                with path.open(encoding="utf-8") as file:
                    for number, line in enumerate(file, start=1):
                        fields = line.rsplit(maxsplit=1)
                        if not fields:
                            continue
                        where = f"line {number} of '{path}'"
                        if len(fields) != 2 or not fields[1].isdigit():
                            raise HarnessError(
                                f"{where}: expected '<class id>/<image>.jpg <label>', got {line.strip()!r}"
                            )
                        label = int(fields[1])
                        yield Entry(join_key(prefix, fields[0]), names.get(label, str(label)), label, split, where)
