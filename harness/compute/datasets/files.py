"""What every on-disk dataset shares: entries enumerated lazily, layout checks with one clear message,
and a manifest that comes from ``ecombench datasets prepare``, or from the first run that needs it (kept, too).

A dataset module only says where its images are listed (``entries``) and which annotation files it reads;
hashing, decoding, corrupt-image exclusion, labels, the seeded split and the manifest digest live in
harness.compute.datasets.prepare, once for every dataset.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NamedTuple, Protocol, Self

from PIL import Image

from harness.compute.datasets.base import Dataset, Item, Manifest
from harness.compute.datasets.images import decode_image
from harness.core.errors import HarnessError
from harness.core.keys import file_stats
from harness.spec.ids import Ref, check_options, parse_ref

#: counts of tolerated oddities met while enumerating (e.g. repaired CSV rows), reported by prepare/info
Notes = Counter[str]


class Entry(NamedTuple):
    """One listed image, before its file is read.

    Attributes:
        key: the image's path relative to the dataset's base folder (posix); the manifest's ``path``.
        class_name: the human-readable class.
        class_num: the layout's numeric class id where it has one (labels follow its order), else None
            (labels follow the sorted class names).
        split: "train" or "test", or None where the dataset draws a seeded stratified split.
        src: where the image is listed, for messages ("line 3 of '/data/sop/Ebay_test.txt'").
    """

    key: str
    class_name: str
    class_num: int | None
    split: str | None
    src: str = ""


@dataclass(frozen=True)
class Source:
    """Where a published dataset comes from, for the message a missing or wrong root gives."""

    title: str
    url: str
    how: str  # what to download and where to point the root


def join_key(prefix: PurePosixPath, path: str) -> str:
    """``prefix/path`` as a posix key; ``prefix`` is "." when the layout sits directly in the root."""
    return (prefix / path.lstrip("/")).as_posix()


def root_of(ref: Ref) -> str:
    """The dataset root named by an id, absolute, so worker processes with another cwd find the same files."""
    return str(Path(ref.name).expanduser().absolute())


class ManifestStore(Protocol):
    """Prepares and caches the manifests of file datasets (harness.compute.datasets.prepare.ManifestFolder)."""

    folder: Path

    def load(self, dataset: FileDataset) -> tuple[Manifest, dict[str, Any]]:
        """The prepared manifest and its sidecar if still valid, else built in memory."""
        ...

    def report(self, dataset: FileDataset) -> dict[str, Any] | None:
        """A valid prepared manifest's sidecar, without reading the manifest; None if there is none."""
        ...


@dataclass
class FileDataset(Dataset):
    """A dataset of image files under ``root`` (absolute, so that worker processes find the same files)."""

    OPTIONS: ClassVar[frozenset[str]] = frozenset()
    #: None for a bring-your-own dataset; its messages then name no publisher
    SOURCE: ClassVar[Source | None] = None
    #: listed images that do not exist are reported and excluded (True) or an error (False)
    MISSING_OK: ClassVar[bool] = False

    id: str
    root: str
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)
    _report: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    #: where prepared manifests are found (harness.compute.datasets.prepare.ManifestFolder), passed in by
    #: ``resolve_dataset``: the dataset lists its files, the store prepares and caches manifests
    store: ManifestStore | None = field(default=None, init=False, repr=False, compare=False)

    def use_manifests(self, store: ManifestStore) -> None:
        self.store = store

    @property
    def manifests(self) -> Path:
        """The folder of prepared manifests."""
        return self._store().folder

    def _store(self) -> ManifestStore:
        if self.store is None:
            raise HarnessError(f"dataset '{self.id}' has no manifest store: build it with resolve_dataset")
        return self.store

    @classmethod
    def from_ref(cls, ref: Ref) -> Self:
        """For a dataset whose id holds only its root; one with options of its own overrides this."""
        check_options(ref, set(cls.OPTIONS), "dataset")
        return cls(str(ref), root_of(ref))

    @abstractmethod
    def entries(self, notes: Notes) -> Iterator[Entry]:
        """Every listed image, lazily, in the dataset's canonical order.

        Raises:
            HarnessError: a missing annotation file or folder (naming its full path and the publisher),
                a malformed annotation line, or a bad option.
        """

    def annotation_files(self) -> list[Path]:
        """Files and folders whose size and modification time tell a prepared manifest is still valid."""
        return [Path(self.root)]

    def describe_split(self) -> str:
        """Where train/test come from, recorded in the manifest's sidecar."""
        return "official"

    def stratify(self) -> tuple[float, int]:
        """(test_fraction, seed) of the seeded stratified split, for datasets whose entries have no split."""
        raise HarnessError(f"dataset '{self.id}' lists images without a split")

    def min_class_size(self) -> int:
        """Classes with fewer readable images are dropped (and reported)."""
        return 1

    def base(self) -> Path:
        """The folder entry keys are relative to."""
        return Path(self.root)

    def fingerprint(self) -> list[list[Any]]:
        """(path, size, mtime_ns) of every annotation file: the cheap validity check of a prepared manifest."""
        return file_stats(self.annotation_files())

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest, self._report = self._store().load(self)
        return self._manifest

    def report(self) -> dict[str, Any]:
        """The manifest's sidecar: digest, statistics, excluded images, notes, split protocol."""
        if self._report is None:
            self._report = self._store().report(self)  # without reading the Parquet; manifest() says why if stale
        if self._report is None:
            self.manifest()
        assert self._report is not None
        return self._report

    def load_image(self, item: Item) -> Image.Image:
        return decode_image(self.base() / item.key)

    # --- layout helpers for the published datasets -------------------------------------------------------

    def layout_error(self, expected: Path, also: Sequence[Path] = (), what: str = "file") -> HarnessError:
        """One message: which file was expected where, and where the dataset is published."""
        source = self.SOURCE
        assert source is not None, "bring-your-own datasets word their own errors"
        root = Path(self.root)
        text = f"{source.title}: expected {what} '{expected}' is missing"
        if not root.exists():
            text += f": the root '{root}' does not exist"
        elif not root.is_dir():
            text += f": the root '{root}' is not a folder"
        elif also:
            text += " (also looked for " + ", ".join(f"'{p}'" for p in also) + ")"
        return HarnessError(f"{text}. {source.title} is published at {source.url}: {source.how}.")

    def find_base(self, anchor: str, prefixes: Sequence[str] = ("",), folder: bool = False) -> Path:
        """The folder holding ``anchor``: the root itself or one of ``prefixes`` below it (an archive's
        top folder, when the root is where the archive was unpacked)."""
        root = Path(self.root)
        candidates = [root / prefix / anchor if prefix else root / anchor for prefix in prefixes]
        for candidate in candidates:
            if candidate.is_dir() if folder else candidate.is_file():
                return candidate.parent
        raise self.layout_error(candidates[0], candidates[1:], "folder" if folder else "file")

    def prefix(self, base: Path) -> PurePosixPath:
        """``base`` relative to the root, as the prefix of entry keys."""
        return PurePosixPath(base.relative_to(self.root).as_posix())


def dataset_id_with_root(text: str, root: Path | None) -> str:
    """``sop`` + ``--root /data/sop`` -> ``sop:/data/sop``; a full id is returned canonical as it is.

    Raises:
        HarnessError: the id names another root than ``--root``.
    """
    ref = parse_ref(text, "dataset")
    if root is None:
        return str(ref)
    if ref.name and Path(ref.name) != root:
        raise HarnessError(f"dataset id '{ref}' names the root '{ref.name}' and --root says '{root}': give one")
    return str(Ref(ref.kind, str(root), ref.options))
