"""``folder:PATH``: a folder of labelled images, one sub-folder per class.

Two layouts are understood:

- ``PATH/<class>/**/<image>``: every item gets a seeded stratified split (options ``test_fraction``,
  ``seed``), recorded in the manifest.
- ``PATH/train/<class>/**/<image>`` and ``PATH/test/<class>/**/<image>``: an official split, used as is.
  (A flat dataset whose only classes happen to be named "train" and "test", each holding sub-folders,
  reads as this layout.)

Texts: the class folders' names (field ``class``); an optional ``PATH/titles.csv`` with header ``path,text``
(paths as above, relative to PATH) gives images a title (field ``title``) for the text suites.

Labels: class names sorted (over both splits) to 0..C-1. Images are found recursively inside a class
folder, sorted by path; hidden files and folders (".name") are skipped, as are files directly in PATH.
Corrupt images are excluded and reported (``ecombench datasets prepare``/``info``). Retrieval is
leave-one-out over ``test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.compute.datasets.base import CLASS_FIELD, SPLITS
from harness.compute.datasets.files import Entry, FileDataset, Notes
from harness.compute.datasets.images import IMAGE_EXTENSIONS, walk_images
from harness.compute.datasets.options import (
    SPLIT_OPTIONS,
    given_split_options,
    reject_split_options,
    split_options,
)
from harness.compute.datasets.texts import TITLE_FIELD, TITLES_FILE, read_texts
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options


def class_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan(root: Path, folder: Path, split: str | None, empty_ok: Notes | None = None) -> Iterator[Entry]:
    """An entry per image of every class folder in ``folder``, keys relative to ``root``.

    A class folder without images is an error, or, given ``empty_ok``, counted there and skipped.
    """
    for class_folder in class_folders(folder):
        images = walk_images(class_folder)
        if not images and empty_ok is not None:
            empty_ok["empty class folders skipped"] += 1
        elif not images:
            extensions = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
            raise HarnessError(f"class folder '{class_folder}' holds no images (looked for {extensions})")
        prefix = class_folder.relative_to(root).as_posix() + "/"
        for image in images:
            yield Entry(prefix + image, class_folder.name, None, split)


@dataclass
class FolderDataset(FileDataset):
    OPTIONS: ClassVar[frozenset[str]] = SPLIT_OPTIONS

    test_fraction: float = 0.5
    seed: int = 0
    given_options: tuple[str, ...] = ()

    @classmethod
    def from_ref(cls, ref: Ref) -> FolderDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        root = Path(ref.name).expanduser().absolute()
        return cls(str(ref), str(root), test_fraction, seed, given_split_options(ref))

    def _official(self) -> bool:
        return all(class_folders(Path(self.root) / split) for split in SPLITS)

    def entries(self, notes: Notes) -> Iterator[Entry]:
        root = Path(self.root)
        if not root.exists():
            raise HarnessError(f"dataset folder '{root}' does not exist")
        if not root.is_dir():
            raise HarnessError(f"dataset folder '{root}' is not a directory")
        if self._official():
            reject_split_options(self.id, self.given_options, f"'{root}' has an official train/ and test/ split")
            for split in SPLITS:
                yield from scan(root, root / split, split)
            return
        found = False
        for entry in scan(root, root, None):
            found = True
            yield entry
        if not found:
            raise HarnessError(
                f"dataset folder '{root}' holds no images: expected one sub-folder per class, "
                f"e.g. {root}/<class>/<image>.jpg"
            )

    def annotation_files(self) -> list[Path]:
        root = Path(self.root)
        folders = [root / split for split in SPLITS] if self._official() else [root]
        titles = [root / TITLES_FILE] if (root / TITLES_FILE).is_file() else []  # only where there is one
        return [root, *folders, *(c for folder in folders for c in class_folders(folder)), *titles]

    def text_fields(self) -> tuple[str, ...]:
        """The class folders' names; an optional ``titles.csv`` (``path,text``) gives each image its title."""
        return (CLASS_FIELD, TITLE_FIELD) if (Path(self.root) / TITLES_FILE).is_file() else (CLASS_FIELD,)

    def item_texts(self, field: str) -> tuple[dict[str, str], str]:
        path = Path(self.root) / TITLES_FILE
        return read_texts(path), f"'{path}'"

    def describe_split(self) -> str:
        return "official: the train/ and test/ folders"

    def stratify(self) -> tuple[float, int]:
        return self.test_fraction, self.seed
