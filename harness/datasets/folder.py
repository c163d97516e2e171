"""``folder:PATH``: a folder of labelled images, one sub-folder per class.

Two layouts are understood:

- ``PATH/<class>/**/<image>``: every item gets a seeded stratified split (options ``test_fraction``,
  ``seed``).
- ``PATH/train/<class>/**/<image>`` and ``PATH/test/<class>/**/<image>``: an official split, used as is;
  labels come from the sorted union of the class names of both. (A flat dataset whose only classes
  happen to be named "train" and "test", each holding sub-folders, reads as this layout.)

Class names sort to labels 0..C-1. Images are found recursively inside a class folder, sorted by path;
hidden files and folders (".name") are skipped, as are files directly in PATH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from PIL import Image

from harness.datasets.base import SPLITS, Dataset, Item, Manifest
from harness.datasets.images import (
    IMAGE_EXTENSIONS,
    decode_image,
    file_digest,
    find_images,
)
from harness.datasets.options import (
    SPLIT_OPTIONS,
    given_split_options,
    reject_split_options,
    split_options,
)
from harness.datasets.splits import stratified_split
from harness.errors import HarnessError
from harness.ids import Ref, check_options


def _class_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(folder: Path) -> list[tuple[str, Path]]:
    """(class name, image path) for every image of every class folder in ``folder``."""
    found: list[tuple[str, Path]] = []
    for class_folder in _class_folders(folder):
        images = find_images(class_folder)
        if not images:
            extensions = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
            raise HarnessError(f"class folder '{class_folder}' holds no images (looked for {extensions})")
        found.extend((class_folder.name, image) for image in images)
    return found


@dataclass
class FolderDataset(Dataset):
    OPTIONS: ClassVar[frozenset[str]] = SPLIT_OPTIONS

    id: str
    root: str  # absolute, so that worker processes with another working directory find the same files
    test_fraction: float
    seed: int
    given_options: tuple[str, ...]
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_ref(cls, ref: Ref) -> FolderDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        root = Path(ref.name).expanduser().absolute()
        return cls(str(ref), str(root), test_fraction, seed, given_split_options(ref))

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> Manifest:
        root = Path(self.root)
        if not root.exists():
            raise HarnessError(f"dataset folder '{root}' does not exist")
        if not root.is_dir():
            raise HarnessError(f"dataset folder '{root}' is not a directory")
        if all(_class_folders(root / split) for split in SPLITS):
            reject_split_options(self.id, self.given_options, f"'{root}' has an official train/ and test/ split")
            entries = [(split, name, image) for split in SPLITS for name, image in _scan(root / split)]
        else:
            found = _scan(root)
            if not found:
                raise HarnessError(
                    f"dataset folder '{root}' holds no images: expected one sub-folder per class, "
                    f"e.g. {root}/<class>/<image>.jpg"
                )
            label_of = {name: label for label, name in enumerate(sorted({name for name, _ in found}))}
            splits = stratified_split([label_of[name] for name, _ in found], self.test_fraction, self.seed)
            entries = [(split, name, image) for split, (name, image) in zip(splits, found, strict=True)]
        label_of = {name: label for label, name in enumerate(sorted({name for _, name, _ in entries}))}
        items = tuple(
            Item(
                key=image.relative_to(root).as_posix(),
                label=label_of[name],
                class_name=name,
                split=split,
                content=file_digest(image),
            )
            for split, name, image in entries
        )
        return Manifest(self.id, items)

    def load_image(self, item: Item) -> Image.Image:
        return decode_image(Path(self.root) / item.key)
