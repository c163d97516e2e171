"""``sop:PATH``: Stanford Online Products (Song et al., CVPR 2016), read from its published layout.

PATH is the unzipped ``Stanford_Online_Products`` folder (or the folder the zip was unpacked in, holding
it)::

    Ebay_train.txt  Ebay_test.txt        "image_id class_id super_class_id path", one header line
    bicycle_final/111085122871_0.JPG ...  12 super-class folders; paths are relative to PATH

- Split: train = the rows of ``Ebay_train.txt`` (11,318 products), test = those of ``Ebay_test.txt``
  (11,316 products; the class sets are disjoint). ``Ebay_info.txt`` and the ``*_final.txt`` files are
  not read.
- Evaluation split: ``test``. SOP defines no query/gallery split: retrieval is leave-one-out over test,
  as in the deep-metric-learning literature.
- Labels: ``class_id`` is 1-based (1..22,634); a label is the rank of its class_id among the classes
  kept, i.e. class_id - 1 when every product keeps an image. ``class_name`` is the class_id as written.
- Texts: a product id is no text; field ``category`` is the image's super-class, read from its folder
  (``coffee_maker_final`` -> "coffee maker"): the 12 category queries of a text search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from harness.compute.datasets.files import Entry, FileDataset, Notes, Source, join_key
from harness.core.errors import HarnessError

SOURCE = Source(
    "Stanford Online Products",
    "https://cvgl.stanford.edu/projects/lifted_struct/",
    "download Stanford_Online_Products.zip (ftp://cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip) and "
    "pass the unzipped Stanford_Online_Products folder as the root",
)
LISTS = {"train": "Ebay_train.txt", "test": "Ebay_test.txt"}
HEADER = "image_id class_id super_class_id path"


CATEGORY_FIELD = "category"


def super_class(key: str) -> str:
    """``.../bicycle_final/111085122871_0.JPG`` -> "bicycle": the super-class folder, in words."""
    return PurePosixPath(key).parent.name.removesuffix("_final").replace("_", " ")


@dataclass
class SopDataset(FileDataset):
    SOURCE: ClassVar[Source | None] = SOURCE

    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CATEGORY_FIELD,)

    def item_texts(self, field: str) -> tuple[dict[str, str], str]:
        keys = (item.key for item in self.manifest().items)
        return {key: super_class(key) for key in keys}, "the super-class folders"

    def _base(self) -> Path:
        return self.find_base(LISTS["train"], ("", "Stanford_Online_Products"))

    def annotation_files(self) -> list[Path]:
        return [self._base() / name for name in LISTS.values()]

    def describe_split(self) -> str:
        return "official: Ebay_train.txt / Ebay_test.txt"

    def entries(self, notes: Notes) -> Iterator[Entry]:
        base = self._base()
        prefix = self.prefix(base)
        for split, name in LISTS.items():
            path = base / name
            if not path.is_file():
                raise self.layout_error(path)
            with path.open(encoding="utf-8") as file:
                header = file.readline().split()
                if "class_id" not in header or "path" not in header:
                    raise HarnessError(f"line 1 of '{path}': expected the header '{HEADER}', got {header!r}")
                class_at, path_at = header.index("class_id"), header.index("path")
                for number, line in enumerate(file, start=2):
                    fields = line.split()
                    if not fields:
                        continue
                    if len(fields) != len(header) or not fields[class_at].isdigit():
                        raise HarnessError(f"line {number} of '{path}': expected '{HEADER}', got {line.strip()!r}")
                    class_id = str(int(fields[class_at]))
                    where = f"line {number} of '{path}'"
                    yield Entry(join_key(prefix, fields[path_at]), class_id, int(class_id), split, where)
