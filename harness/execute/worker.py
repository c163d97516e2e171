"""Execute planned cells: load (or reuse) the model, resolve the datasets, run the suite, write the shard.

This is all any executor runs, in whatever process it has (this one, a pool worker, a container, a Ray task):
it reads a CellSpec and the run settings, and writes one shard. It never opens the results database.

A cell runs under its own file lock, so two processes given the same cell compute it once: the second waits,
then finds the shard and reuses it.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compute.extract.embed import EmbeddingCache, ExtractionSettings
from harness.core.errors import HarnessError
from harness.core.locks import file_lock
from harness.storage.shards import Shard, ShardStore
from harness.storage.workdir import DEFAULT, Workdir

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.cells import CellSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """How cells run here; none of it is part of a cell's key (harness.plan.identity)."""

    workdir: Path = DEFAULT
    db: Path = Path("results.duckdb")
    milvus_uri: str | None = None  # None: a Milvus Lite file of the cell's own inside workdir
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    force: bool = False
    seed: int = 0
    ingest: bool = True  # False in a container: the host ingests its shards (it alone opens the database)
    shared_cache: Path | None = None  # a read-only embedding cache consulted after the workdir's (containers)

    @property
    def shards(self) -> ShardStore:
        return ShardStore(Workdir(self.workdir).shards)

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(Workdir(self.workdir).embeddings, self.shared_cache)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir), "db": str(self.db), "milvus_uri": self.milvus_uri,
            "batch_size": self.extraction.batch_size, "workers": self.extraction.workers,
            "device": self.extraction.device, "precision": self.extraction.precision,
            "channels_last": self.extraction.channels_last, "image_cache": self.extraction.image_cache,
            "force": self.force, "seed": self.seed,
            "ingest": self.ingest,
            "shared_cache": str(self.shared_cache) if self.shared_cache else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSettings:
        extraction = ExtractionSettings(int(d["batch_size"]), int(d["workers"]), str(d["device"]),
                                        str(d.get("precision", "fp32")),
                                        bool(d.get("channels_last", False)),
                                        bool(d.get("image_cache", False)))  # fmt: skip
        shared = Path(d["shared_cache"]) if d.get("shared_cache") else None
        return cls(Path(d["workdir"]), Path(d["db"]), d["milvus_uri"], extraction, bool(d["force"]), int(d["seed"]),
                   bool(d["ingest"]), shared)  # fmt: skip


def cell_extraction(settings: ExtractionSettings, spec: CellSpec) -> ExtractionSettings:
    """The settings a cell runs with: its key's precision and memory format (the planned context), whatever
    the executing process was given, so a cell's numbers always match its key."""
    import dataclasses

    precision = str(spec.context.get("precision", "fp32"))
    return dataclasses.replace(settings, precision=precision, channels_last=bool(spec.context.get("channels_last")))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def describe(exc: BaseException) -> str:
    if isinstance(exc, HarnessError):
        return str(exc)
    log.error("unexpected failure:\n%s", "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


class Worker:
    """Runs cells one after another in this process, keeping the last model loaded (a grid groups cells by
    model, so each model loads once per worker) and each dataset resolved once (its manifest is built once).

    Attributes:
        loads: models loaded so far; a finished grid re-run loads none (tests assert it).
    """

    def __init__(self, settings: RunSettings, force_since: float | None = None) -> None:
        self.settings, self.force_since = settings, force_since
        self._model: tuple[str, EmbeddingModel | str] | None = None
        self._datasets: dict[str, Dataset] = {}
        self._env: dict[str, object] | None = None
        self.loads = 0

    def finished(self, spec: CellSpec) -> Shard | None:
        """The cell's finished shard, unless it is missing, failed, or forced (finished before the grid)."""
        store = self.settings.shards
        shard = store.get(spec.key)
        if shard is None or shard.status != "ok":
            return None
        if self.force_since is not None and store.path(spec.key).stat().st_mtime < self.force_since:
            return None
        return shard

    def run(self, spec: CellSpec) -> tuple[Shard, bool]:
        """The cell's shard and whether it had finished earlier (and so was not recomputed)."""
        settings = self.settings
        if (done := self.finished(spec)) is not None:  # cheap path: no lock file, no model
            return done, True
        with file_lock(Workdir(settings.workdir).lock(f"cell-{spec.key}"), spec.cell.label()):
            if (done := self.finished(spec)) is not None:  # another process computed it while we waited
                return done, True
            shard = self._compute(spec)
            settings.shards.write(shard)
        return shard, False

    def model(self, model_id: str) -> EmbeddingModel | str:
        """The loaded model, or the message of why it could not be loaded (the cell then fails with it)."""
        if self._model is None or self._model[0] != model_id:
            from harness.compute.models import load_model

            self._model = None  # free the previous model before loading the next
            try:
                loaded: EmbeddingModel | str = load_model(model_id)
            except Exception as exc:
                loaded = describe(exc)
            self.loads += 1
            self._model = (model_id, loaded)
        return self._model[1]

    def dataset(self, dataset_id: str) -> Dataset:
        if dataset_id not in self._datasets:
            from harness.compute.datasets import resolve_dataset

            self._datasets[dataset_id] = resolve_dataset(dataset_id, self.settings.workdir)
        return self._datasets[dataset_id]

    def environment(self) -> dict[str, object]:
        if self._env is None:
            from harness.core import provenance

            self._env = provenance.environment(self.settings.extraction.device)
        return self._env

    def _compute(self, spec: CellSpec) -> Shard:
        import torch

        from harness.compute.suites import Context, load_run

        cell, settings = spec.cell, self.settings
        shard = Shard(run_id=spec.key, cell=cell, status="error", started_at=_now(), finished_at="")
        shard.seed, shard.provenance = settings.seed, {**self.environment(), "context": spec.context}
        milvus = settings.milvus_uri or str(Workdir(settings.workdir).milvus_lite / f"{spec.key}.db")
        started = time.perf_counter()
        try:
            # the data first: a missing or malformed dataset is reported before a model loads (which can take
            # minutes, or fail for its own reasons and hide the dataset's)
            dataset = self.dataset(cell.dataset)
            shard.manifest_digest = dataset.manifest().digest
            shard.provenance["dataset_excluded"] = dataset.manifest().excluded
            loaded = self.model(cell.model)
            if isinstance(loaded, str):
                raise HarnessError(loaded)
            shard.random_init, shard.weights_digest = loaded.random_init, loaded.weights_digest
            shard.preprocessing = loaded.preprocessing
            torch.manual_seed(settings.seed)
            extraction = cell_extraction(settings.extraction, spec)
            shard.provenance["extraction"] = {"precision": extraction.precision,
                                              "channels_last": extraction.channels_last,
                                              "image_cache": extraction.image_cache}  # fmt: skip
            ctx = Context(
                spec, loaded, dataset, settings.cache, extraction, milvus, settings.workdir,
                self.force_since, resolve=self.dataset,
            )  # fmt: skip
            shard.metrics = load_run(cell.suite)(ctx)
            shard.details = ctx.details
            shard.status = "ok"
        except Exception as exc:
            shard.error = describe(exc)
        finally:
            if settings.milvus_uri is None:  # the cell's own Milvus Lite file: nothing in it is reused
                for leftover in Path(milvus).parent.glob(f"{Path(milvus).name}*"):
                    shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        shard.provenance["wall_s"] = time.perf_counter() - started
        shard.finished_at = _now()
        return shard
