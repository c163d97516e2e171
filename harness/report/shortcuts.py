"""How well the shortcuts predicted this grid: per dataset, each cheap signal's ranking of the models (the
``signals`` suite's stored metrics) scored against the grid's ranking (pre-trained retrieval mMP@5), beside the
racing replays ``ecombench recommend --evaluate`` stored in the ``shortcut_scores`` table.

The scores are harness.compute.selection.scoring's: Kendall tau-b, weighted tau, top-1 regret (the grid's best
mMP@5 minus that of the method's choice) and the device time spent as a fraction of the grid's. For a stored
signal that fraction is the signals cells' recorded durations over the retrieval cells' (finished_at -
started_at, the same models); a signals cell reading embeddings the retrieval cell cached costs little more than
the signals' arithmetic. Where a (model, dataset) has several runs, the newest counts. Nothing is shown for a
dataset with fewer than two models carrying both a signal and the grid's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.compute.selection.scoring import Score, score_ranking
from harness.compute.selection.signals import SIGNALS
from harness.report.data import Filters
from harness.report.numbers import number, share
from harness.storage.store import connect, dataset_matches

METRIC = "mmp_at_5"
SIGNALS_SUITE = "signals"

NEWEST = """
    SELECT r.model, r.dataset, r.suite, m.metric, m.value, epoch(r.finished_at) - epoch(r.started_at)
    FROM runs r JOIN metrics m USING (run_id)
    WHERE r.status = 'ok' AND r.strategy = 'pretrained'
      AND ((r.suite = 'retrieval' AND m.metric = ?) OR (r.suite = ? AND list_contains(?, m.metric)))
    QUALIFY row_number() OVER (PARTITION BY r.model, r.dataset, r.suite, m.metric ORDER BY r.finished_at DESC) = 1
    ORDER BY r.dataset, r.model
"""
REPLAYS = """
    SELECT dataset, method, candidates, tau, weighted_tau, regret, choice, fraction FROM shortcut_scores
    ORDER BY dataset, method = 'racing' DESC, method
"""


@dataclass(frozen=True)
class Row:
    dataset: str
    source: str  # "stored signals" or "replay" (recommend --evaluate)
    candidates: int
    score: Score

    @property
    def shown(self) -> dict[str, str]:
        """The score's figures as the section prints them ("n/a" where undefined)."""
        s = self.score
        return {
            "tau": number(s.tau, 3),
            "weighted_tau": number(s.weighted_tau, 3),
            "regret": number(s.regret),
            "fraction": share(s.fraction),
        }


def _table_exists(con, name: str) -> bool:  # type: ignore[no-untyped-def]
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()
    return bool(found and found[0])


def shortcuts(db: Path, filters: Filters | None = None) -> list[Row]:
    """Every row of the section, datasets in order: the replays' rows first, then the stored signals'."""
    filters = filters or Filters()
    con = connect(db, read_only=True)
    try:
        values = con.execute(NEWEST, [METRIC, SIGNALS_SUITE, list(SIGNALS)]).fetchall()
        replays = con.execute(REPLAYS).fetchall() if _table_exists(con, "shortcut_scores") else []
    finally:
        con.close()
    truth: dict[str, dict[str, float]] = {}
    signals: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[tuple[str, str], dict[str, float]] = {}  # (dataset, suite) -> model -> duration
    for model, dataset, suite, metric, value, duration in values:
        if not filters.matches(model, dataset, "pretrained"):
            continue
        if suite == "retrieval":
            truth.setdefault(dataset, {})[model] = float(value)
        else:
            signals.setdefault(dataset, {}).setdefault(metric, {})[model] = float(value)
        seconds.setdefault((dataset, suite), {})[model] = max(float(duration or 0.0), 0.0)
    rows: dict[str, list[Row]] = {}
    for dataset, method, candidates, tau, weighted, regret, choice, fraction in replays:
        if filters.dataset is None or dataset_matches(filters.dataset, dataset):
            score = Score(method, _nan(tau), _nan(weighted), float(regret), choice, _nan(fraction))
            rows.setdefault(dataset, []).append(Row(dataset, "replay", int(candidates), score))
    for dataset, by_signal in signals.items():
        grid = truth.get(dataset, {})
        for name in SIGNALS:
            scores = {m: v for m, v in by_signal.get(name, {}).items() if m in grid}
            if len(scores) < 2:
                continue
            spent = sum(seconds[(dataset, SIGNALS_SUITE)][m] for m in scores)
            whole = sum(seconds[(dataset, "retrieval")][m] for m in scores)
            fraction = spent / whole if whole > 0 else float("nan")
            score = score_ranking(name, scores, {m: grid[m] for m in scores}, fraction)
            rows.setdefault(dataset, []).append(Row(dataset, "stored signals", len(scores), score))
    return [row for dataset in sorted(rows) for row in rows[dataset]]


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
