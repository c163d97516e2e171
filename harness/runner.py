"""Run cells: resolve model and dataset, skip finished cells, run the suite, write a shard, ingest.

A failing cell becomes an ``error`` shard (failure is data), so one bad cell never stops a grid.
"""

from __future__ import annotations

import functools
import itertools
import logging
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.embed import EmbeddingCache, ExtractionSettings
from harness.errors import HarnessError
from harness.shards import Cell, Shard, finished_ok
from harness.store import ingest

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.datasets.base import Dataset
    from harness.models.base import EmbeddingModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    workdir: Path = Path(".ecombench")
    db: Path = Path("results.duckdb")
    milvus_uri: str | None = None  # None: the Milvus Lite file inside workdir
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    force: bool = False
    seed: int = 0
    ingest: bool = True  # False in a container: the host ingests its shards (it alone opens the database)

    @property
    def shard_dir(self) -> Path:
        return self.workdir / "shards"

    @property
    def cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.workdir / "embeddings")

    @property
    def milvus(self) -> str:
        return self.milvus_uri or str(self.workdir / "milvus.db")


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    run_id: str
    status: str  # "ok", "cached" (finished earlier, not recomputed) or "error"
    metrics: dict[str, float]
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, HarnessError):
        return str(exc)
    log.error("unexpected failure:\n%s", "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


def run_cells(cells: list[Cell], settings: RunSettings) -> list[Outcome]:
    """Run every cell (each model loaded once), then ingest all their shards into the database."""
    from harness import provenance
    from harness.datasets import resolve_dataset
    from harness.models import load_model

    env = provenance.environment(settings.extraction.device)
    # One Dataset object per id for the whole grid: its manifest (possibly hashing every file) is built once.
    resolve = functools.cache(resolve_dataset)
    outcomes: list[Outcome] = []
    shards: list[Shard] = []
    try:
        for model_id, group in itertools.groupby(cells, key=lambda c: c.model):
            try:
                loaded: EmbeddingModel | str = load_model(model_id)
            except Exception as exc:
                loaded = _describe(exc)
            for cell in group:
                shard, cached = _run_cell(cell, loaded, resolve, settings, env)
                shards.append(shard)
                status = "cached" if cached else shard.status
                outcomes.append(Outcome(cell, shard.run_id, status, shard.metrics, shard.error))
    finally:  # an interrupted grid still records the cells it finished
        if settings.ingest:
            ingest(settings.db, shards, settings.workdir)
    return outcomes


def _run_cell(
    cell: Cell,
    loaded: EmbeddingModel | str,
    resolve: Callable[[str], Dataset],
    settings: RunSettings,
    env: dict[str, object],
) -> tuple[Shard, bool]:
    """Returns the cell's shard and whether it was finished earlier (and so not recomputed)."""
    import torch

    from harness.suites import Context, get_suite

    shard = Shard(run_id="", cell=cell, status="error", started_at=_now(), finished_at="")
    shard.seed, shard.provenance = settings.seed, dict(env)
    try:
        if isinstance(loaded, str):
            raise HarnessError(loaded)
        shard.random_init, shard.weights_digest = loaded.random_init, loaded.weights_digest
        shard.preprocessing = loaded.preprocessing
        dataset = resolve(cell.dataset)
        shard.manifest_digest = dataset.manifest().digest
        shard.provenance["dataset_excluded"] = dataset.manifest().excluded
        shard.run_id = cell.key(loaded.weights_digest, shard.manifest_digest)
        if not settings.force and finished_ok(settings.shard_dir, shard.run_id):
            return Shard.read(settings.shard_dir / f"{shard.run_id}.json"), True
        torch.manual_seed(settings.seed)
        ctx = Context(
            loaded, dataset, cell.strategy, cell.params, settings.cache, settings.extraction, settings.milvus,
            settings.workdir, settings.force, resolve=resolve,
        )  # fmt: skip
        shard.metrics = get_suite(cell.suite).run(ctx)
        shard.details = ctx.details
        shard.status = "ok"
    except Exception as exc:
        shard.error = _describe(exc)
        # Digests that could not be computed stay empty in the key, so the failure is still one stable row.
        shard.run_id = shard.run_id or cell.key(shard.weights_digest or "", shard.manifest_digest or "")
    shard.finished_at = _now()
    shard.write(settings.shard_dir)
    return shard, False
