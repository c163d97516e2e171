"""``ecombench recommend``: which backbone for this catalogue, at a fraction of the grid's cost, and how well
such shortcuts predicted the grids already finished.

:func:`recommend` races the candidate models (harness.compute.selection.racing) on nested class-stratified
samples of the dataset's retrieval split: each candidate embeds only the sampled images it has not embedded
yet (real forward passes, timed as its device-seconds), each stage scores every survivor by leave-one-out
retrieval inside the sample, and the cheap signals (k-NN accuracy, LogME, H-score) are computed on the first
stage's embeddings, which racing has paid for already. What it spent is set against the dry run's estimate of
the full grid (the same models x dataset, pre-trained, retrieval suite).

:func:`evaluate` replays racing and every signal on each finished grid of a results database without a forward
pass: the grid's embeddings are read from the workdir's embedding cache (the entry whose sidecar names the
run's model, dataset, split, weights digest and manifest digest), samples are drawn from them, and a sample's
device-seconds are the cell's recorded duration (finished_at - started_at) times the fraction of the split
embedded. Each method's ranking is then scored against the grid's mMP@5 (harness.compute.selection.scoring), and
the scores are written to the database's ``shortcut_scores`` table (replacing the dataset's earlier ones), which
the report's "How well the shortcuts predicted this grid" reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.selection.evaluation import sample_values
from harness.compute.selection.outcomes import Recommendation, Replay
from harness.compute.selection.racing import Evaluation, RaceConfig, race
from harness.compute.selection.sampling import nested_sample, stratified_order
from harness.compute.selection.scoring import ranks_as_scores, score_ranking
from harness.compute.selection.signals import SIGNALS
from harness.compute.selection.tuning import predict_finetune_gain, tuning_gain
from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.storage.store import connect, record_shortcut_scores
from harness.storage.workdir import Workdir

if TYPE_CHECKING:
    from harness.spec.settings import Settings

SPLIT = "test"  # retrieval's evaluation split
METRIC = "mmp_at_5"


def _signals(vectors: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, dict[str, float]]:
    return {c: {name: fn(v, labels) for name, fn in SIGNALS.items()} for c, v in vectors.items()}


def recommend(models: list[str], dataset_id: str, settings: Settings, config: RaceConfig,
              fraction: float | None = None, estimate_for: str | None = None,
              tune_preset: str | None = None, tune_top: int = 2) -> Recommendation:  # fmt: skip
    """Race ``models`` on samples of ``dataset_id`` (see the module docstring); ``fraction`` turns into a
    device-second budget of that fraction of the dry run's full-grid estimate (``config.budget_s`` wins).
    With ``tune_preset``, the ``tune_top`` leading candidates' top-tune gain is measured on the largest sample
    they reached, and their fine-tune gain predicted from it where ``settings.db`` holds top-tuned and
    fine-tuned cells of the same model on other datasets (harness.compute.selection.tuning)."""
    from harness.compute.datasets import resolve_dataset
    from harness.compute.extract.embeddings import extract
    from harness.compute.models import load_model, parse_model_id

    models = [str(parse_model_id(m)) for m in models]
    if len(set(models)) < 2:
        raise HarnessError(f"recommend needs at least two distinct models to choose between, got {models}")
    dataset = resolve_dataset(dataset_id, settings.workdir)
    manifest = dataset.manifest()
    items = [manifest.items[i] for i in manifest.indices(SPLIT)]
    if not items:
        raise HarnessError(f"dataset '{dataset.id}' has no images in split '{SPLIT}'")
    labels = np.array([item.label for item in items])
    estimate = _grid_estimate(models, dataset.id, settings, estimate_for)
    if config.budget_s is None and fraction is not None and estimate is not None:
        config = replace(config, budget_s=fraction * estimate)
    embedded: dict[str, dict[int, np.ndarray]] = {m: {} for m in models}
    loaded: dict[str, object] = {}

    def evaluate(candidate: str, positions: np.ndarray) -> Evaluation:
        start = time.perf_counter()
        if candidate not in loaded:
            loaded[candidate] = load_model(candidate)
        model = loaded[candidate]
        rows = embedded[candidate]
        new = [int(p) for p in positions if int(p) not in rows]
        if new:
            label = f"{candidate} on a sample of {dataset.id}"
            array = extract(model, dataset, [items[p] for p in new], settings.extraction, label)  # type: ignore[arg-type]
            rows.update(zip(new, array, strict=True))
        seconds = time.perf_counter() - start
        vectors = np.stack([rows[int(p)] for p in positions])
        return Evaluation(sample_values(vectors, labels[positions]), seconds, len(new))

    result = race(models, labels, evaluate, config)
    first = nested_sample(stratified_order(labels, config.seed), config.first_per_class)
    vectors = {m: np.stack([embedded[m][int(p)] for p in first]) for m in models}
    notes = (
        []
        if estimate is not None
        else [
            "the dry run has no device-time estimate for this grid"
            + ("" if config.budget_s else ", so racing ran without a budget")
        ]
    )
    gains = []
    if tune_preset is not None:
        for candidate in result.ranking()[:tune_top]:
            positions = np.array(sorted(embedded[candidate]))
            key = content_key({"model": candidate, "dataset": dataset.id})
            vectors_seen = np.stack([embedded[candidate][int(p)] for p in positions])
            folder = Workdir.of(settings.workdir).subjobs("recommend-toptune") / key
            gains.append(tuning_gain(candidate, vectors_seen, labels[positions], tune_preset, folder, config.seed))
    predictions = [predict_finetune_gain(g.candidate, g.gain, *grid_tuning_gains(settings.db, g.candidate, dataset.id))
                   for g in gains]  # fmt: skip
    return Recommendation(dataset.id, result, _signals(vectors, labels[first]), len(first), estimate,
                          len(items) * len(models), config.budget_s, gains, predictions, notes)  # fmt: skip


TUNED = """
    SELECT r.dataset, r.strategy, m.value, epoch(r.finished_at) - epoch(r.started_at),
           (SELECT f.value FROM metrics f WHERE f.run_id = r.run_id AND f.metric = 'finetune_s')
    FROM runs r JOIN metrics m USING (run_id)
    WHERE r.status = 'ok' AND r.suite = 'retrieval' AND r.model = ? AND r.dataset <> ? AND m.metric = ?
      AND r.strategy IN ('pretrained', 'toptuned', 'finetuned')
    QUALIFY row_number() OVER (PARTITION BY r.dataset, r.strategy ORDER BY r.finished_at DESC) = 1
    ORDER BY r.dataset
"""


def grid_tuning_gains(db: Path, model: str, dataset: str) -> tuple[list[tuple[float, float]], list[float]]:
    """From the results database: (top-tune gain, fine-tune gain) in mMP@5 for every other dataset where ``model``
    has finished pre-trained, top-tuned and fine-tuned retrieval cells (the newest of each), and those fine-tunes'
    device-seconds (``finetune_s``, else the cell's duration). Nothing where the database does not exist."""
    if not db.exists():
        return [], []
    con = connect(db, read_only=True)
    try:
        rows = con.execute(TUNED, [model, dataset, METRIC]).fetchall()
    finally:
        con.close()
    by: dict[str, dict[str, tuple[float, float]]] = {}
    for other, strategy, value, duration, finetune_s in rows:
        seconds = float(finetune_s) if finetune_s is not None else max(float(duration or 0.0), 0.0)
        by.setdefault(other, {})[strategy] = (float(value), seconds)
    pairs, seconds_list = [], []
    for cells in by.values():
        if {"pretrained", "toptuned", "finetuned"} <= set(cells):
            base = cells["pretrained"][0]
            pairs.append((cells["toptuned"][0] - base, cells["finetuned"][0] - base))
            seconds_list.append(cells["finetuned"][1])
    return pairs, seconds_list


def _grid_estimate(models: list[str], dataset: str, settings: Settings, estimate_for: str | None) -> float | None:
    """The dry run's device-seconds for the full grid (models x dataset, pre-trained, retrieval)."""
    from harness.plan.dryrun import dry_run
    from harness.plan.grid import make_cells

    grid = make_cells(models, [dataset], ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}})
    device = settings.extraction.device
    run = dry_run(grid, device, settings.workdir, settings.db, estimate_for or device)
    total = run.estimate.total_s
    return total if total > 0 else None


# --- the replay on finished grids ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    model: str
    value: float
    seconds: float
    vectors: np.ndarray


def finished_grids(db: Path, workdir: Path) -> dict[str, list[_Cell]]:
    """Per dataset, its finished pre-trained retrieval cells whose test-split embeddings are in the cache."""
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            """SELECT r.model, r.dataset, m.value, r.weights_digest, r.manifest_digest,
                      epoch(r.finished_at) - epoch(r.started_at)
               FROM runs r JOIN metrics m USING (run_id)
               WHERE r.status = 'ok' AND r.suite = 'retrieval' AND r.strategy = 'pretrained' AND m.metric = ?
               ORDER BY r.dataset, r.model""",
            [METRIC],
        ).fetchall()
    finally:
        con.close()
    index = _cache_index(Workdir.of(workdir).embeddings)
    grids: dict[str, list[_Cell]] = {}
    for model, dataset, value, weights, manifest, seconds in rows:
        path = index.get((model, dataset, weights, manifest))
        if path is None or any(c.model == model for c in grids.get(dataset, [])):
            continue
        grids.setdefault(dataset, []).append(_Cell(model, float(value), max(float(seconds or 0), 1e-3),
                                                   np.load(path, allow_pickle=False)))  # fmt: skip
    return {d: cells for d, cells in grids.items() if len(cells) >= 2}


def _cache_index(folder: Path) -> dict[tuple[str, str, str, str], Path]:
    index: dict[tuple[str, str, str, str], Path] = {}
    for sidecar in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("split") == SPLIT and sidecar.with_suffix(".npy").is_file():
            key = (meta.get("model"), meta.get("dataset"), meta.get("weights"), meta.get("manifest"))
            index[key] = sidecar.with_suffix(".npy")
    return index


def evaluate(db: Path, workdir: Path, config: RaceConfig, fraction: float) -> list[Replay]:
    """Replay racing and the signals on every finished grid of ``db`` (see the module docstring)."""
    from harness.compute.datasets import resolve_dataset

    grids = finished_grids(db, workdir)
    if not grids:
        raise HarnessError(
            f"no finished grid to replay in '{db}': needs pre-trained retrieval runs of at least two models on a "
            f"dataset, with their test-split embeddings still in '{Workdir.of(workdir).embeddings}'"
        )
    replays = []
    for dataset_id, cells in grids.items():
        manifest = resolve_dataset(dataset_id, workdir).manifest()
        labels = np.array([manifest.items[i].label for i in manifest.indices(SPLIT)])
        replays.append(replay(dataset_id, cells, labels, config, fraction))
    evaluated_at = datetime.now(UTC).replace(tzinfo=None)  # the database's timestamps are naive UTC
    for done in replays:  # kept for the report's "How well the shortcuts predicted this grid"
        rows = [(s.method, done.candidates, s.tau, s.weighted_tau, s.regret, s.choice, s.fraction) for s in done.scores]
        record_shortcut_scores(db, done.dataset, rows, evaluated_at)
    return replays


def replay(dataset: str, cells: list[_Cell], labels: np.ndarray, config: RaceConfig, fraction: float) -> Replay:
    """One grid: racing under ``fraction`` of its device time, and each signal on the first stage's sample."""
    by_model = {c.model: c for c in cells}
    for cell in cells:
        if len(cell.vectors) != len(labels):
            raise HarnessError(f"the cached embeddings of '{cell.model}' on '{dataset}' have {len(cell.vectors)} "
                               f"rows, the split has {len(labels)} images")  # fmt: skip
    grid_seconds = sum(c.seconds for c in cells)
    n = len(labels)
    seen: dict[str, int] = {c.model: 0 for c in cells}

    def evaluate(candidate: str, positions: np.ndarray) -> Evaluation:
        cell = by_model[candidate]
        new, seen[candidate] = len(positions) - seen[candidate], len(positions)
        return Evaluation(sample_values(cell.vectors[positions], labels[positions]), cell.seconds * new / n, new)

    race_config = replace(config, budget_s=fraction * grid_seconds)
    result = race([c.model for c in cells], labels, evaluate, race_config)
    truth = {c.model: c.value for c in cells}
    scores = [score_ranking("racing", ranks_as_scores(result.ranking()), truth, result.seconds / grid_seconds)]
    first = nested_sample(stratified_order(labels, config.seed), config.first_per_class)
    signal_fraction = sum(c.seconds * len(first) / n for c in cells) / grid_seconds
    values = _signals({c.model: c.vectors[first] for c in cells}, labels[first])
    for name in SIGNALS:
        scores.append(score_ranking(name, {m: v[name] for m, v in values.items()}, truth, signal_fraction))
    return Replay(dataset, len(cells), grid_seconds, scores, result)
