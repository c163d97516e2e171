"""The workdir: every folder the harness writes, named once.

``--workdir`` (default ``.ecombench``) owns everything but the results database and the reports. A module that
needs a folder asks a :class:`Workdir` for it; no other module spells a folder name. The names are part of the
on-disk format (a workdir written by an older ecombench keeps working), so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.spec.settings import DEFAULT_WORKDIR as DEFAULT  # re-exported: the default is a run setting


@dataclass(frozen=True)
class Workdir:
    root: Path

    @classmethod
    def of(cls, root: Path | str | Workdir | None) -> Workdir:
        """A workdir from a path (``None``: the default, relative to the current folder)."""
        if isinstance(root, Workdir):
            return root
        return cls(Path(root) if root is not None else DEFAULT)

    def absolute(self) -> Workdir:
        return Workdir(self.root.absolute())

    @property
    def shards(self) -> Path:
        """One JSON shard per computed cell (and ``<run_id>.failed.json`` beside a failure)."""
        return self.root / "shards"

    @property
    def pruned(self) -> Path:
        """Shards of pruned runs, moved aside so that ingest does not bring them back."""
        return self.root / "pruned"

    @property
    def manifests(self) -> Path:
        """Prepared dataset manifests (Parquet) with their JSON sidecars."""
        return self.root / "manifests"

    @property
    def embeddings(self) -> Path:
        """The content-addressed embedding cache."""
        return self.root / "embeddings"

    @property
    def images(self) -> Path:
        """The decoded, pre-resized image cache."""
        return self.root / "images"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def lock(self, name: str) -> Path:
        """The lock file of one cell, sub-job or cache entry (``cell-<key>``, ``toptune-<key>``, ...)."""
        return self.locks / f"{name}.lock"

    @property
    def per_query(self) -> Path:
        """Per-query metric values of each cell, for intervals and paired tests."""
        return self.root / "per_query"

    @property
    def neighbours(self) -> Path:
        """Each cell's neighbour lists, and exact neighbours shared by the approximate cells over one set of vectors."""
        return self.root / "neighbours"

    @property
    def milvus_lite(self) -> Path:
        """One Milvus Lite database file per cell."""
        return self.root / "milvus"

    @property
    def milvus_server(self) -> Path:
        """The local Milvus server's data, state file and lock."""
        return self.root / "milvus-server"

    @property
    def containers(self) -> Path:
        """Exchange folders of container runs (one per command)."""
        return self.root / "containers"

    def subjobs(self, kind: str) -> Path:
        """The folders of one kind of sub-job (``toptune``, ``finetune``): ``<kind>/<key>/``."""
        return self.root / kind

    #: the folders a container shares with the host by bind mount: sub-jobs, their locks and the side files
    SHARED = ("finetune", "toptune", "locks", "per_query", "neighbours")
