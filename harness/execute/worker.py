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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.compute.extract.cache import EmbeddingCache
from harness.core.errors import HarnessError
from harness.core.locks import file_lock
from harness.spec.settings import Extraction, Settings
from harness.storage.shards import Shard, ShardStore
from harness.storage.workdir import Workdir

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.cells import CellSpec

log = logging.getLogger(__name__)


def shard_store(settings: Settings) -> ShardStore:
    return ShardStore(Workdir(settings.workdir).shards)


def embedding_cache(settings: Settings) -> EmbeddingCache:
    return EmbeddingCache(Workdir(settings.workdir).embeddings, settings.shared_cache)


def cell_extraction(settings: Extraction, spec: CellSpec) -> Extraction:
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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.shards = shard_store(settings)
        self.cache = embedding_cache(settings)
        self._model: tuple[str, EmbeddingModel | str] | None = None
        self._datasets: dict[str, Dataset] = {}
        self._env: dict[str, object] | None = None
        self.loads = 0

    def finished(self, spec: CellSpec) -> Shard | None:
        """The cell's finished shard, unless it is missing, failed, or forced (finished before the grid)."""
        shard = self.shards.get(spec.key)
        if shard is None or shard.status != "ok":
            return None
        since = self.settings.force_since
        if since is not None and self.shards.path(spec.key).stat().st_mtime < since:
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
            self.shards.write(shard)
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
                spec, loaded, dataset, self.cache, extraction, milvus, settings.workdir,
                settings.force_since, resolve=self.dataset,
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
