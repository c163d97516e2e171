"""What a report shows, read from the results database (bound parameters only) into plain dataclasses.

Paper-style tables per strategy (model x dataset; mMP@5, mR@1 and, where measured, classification accuracy),
models grouped by pre-training family, each value ranked in its column (1 best, 2 second) and tied to the run
that produced it; the runs' provenance and rerun commands; a decision summary; the top-tuning gain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.report.rerun import rerun_command
from harness.store import connect

#: (suite, metric) -> column label, in column order
COLUMNS = {
    ("retrieval", "mmp_at_5"): "mMP@5",
    ("retrieval", "recall_at_1"): "mR@1",
    ("classification", "accuracy"): "acc",
}
OTHER_FAMILY = "other"
PROVENANCE = ("git_sha", "harness_version", "lock_hash", "image_digest", "weights_digest", "manifest_digest", "seed",
              "torch_version", "cuda_version", "device", "gpu", "cpu")  # fmt: skip

_FILTER = (
    "(?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR dataset = ?) AND (?::VARCHAR IS NULL OR strategy = ?)"
)
LATEST = f"""
    SELECT run_id, model, dataset, strategy, suite, metric, value, random_init FROM results
    WHERE list_contains(?, suite || '/' || metric) AND {_FILTER}
    QUALIFY row_number() OVER (PARTITION BY model, dataset, strategy, suite, metric ORDER BY finished_at DESC) = 1
"""
RUNS = f"""
    SELECT run_id, model, dataset, strategy, suite, params, status, error, random_init, {", ".join(PROVENANCE)},
           finished_at
    FROM runs WHERE {_FILTER} ORDER BY model, dataset, strategy, suite, finished_at
"""


@dataclass(frozen=True)
class Filters:
    model: str | None = None
    dataset: str | None = None
    strategy: str | None = None

    def params(self) -> list[str | None]:
        """Bound parameters of the SQL filter: each value twice, for ``(? IS NULL OR column = ?)``."""
        return [v for v in (self.model, self.dataset, self.strategy) for _ in range(2)]

    def matches(self, model: str, dataset: str, strategy: str) -> bool:
        """The same filter, for rows already read."""
        wanted = ((self.model, model), (self.dataset, dataset), (self.strategy, strategy))
        return all(want is None or want == got for want, got in wanted)


@dataclass
class Run:
    run_id: str
    model: str
    dataset: str
    strategy: str
    suite: str
    params: dict[str, Any]
    status: str
    error: str | None
    random_init: bool
    provenance: dict[str, str]
    finished_at: str

    @property
    def command(self) -> str:
        return rerun_command(self.model, self.dataset, self.suite, self.strategy, self.params)


@dataclass
class Value:
    value: float
    run_id: str
    rank: int = 0  # 1 best in its column, 2 second, 0 otherwise


@dataclass
class Row:
    model: str
    family: str
    random_init: bool
    values: dict[tuple[str, str], Value] = field(default_factory=dict)  # (dataset, label) -> value
    failed: dict[str, Run] = field(default_factory=dict)  # dataset -> the failed run (no value there)


@dataclass
class PaperTable:
    strategy: str
    columns: list[tuple[str, str]]  # (dataset, label)
    groups: list[tuple[str, list[Row]]]  # (family, rows), catalogue order, "other" last

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for d, _ in self.columns))


@dataclass
class Gain:
    model: str
    dataset: str
    pretrained: float
    toptuned: float

    @property
    def gain(self) -> float:
        return self.toptuned - self.pretrained


@dataclass
class ReportData:
    tables: list[PaperTable]
    runs: list[Run]
    summary: list[str]
    gains: list[Gain]
    filters: Filters

    @property
    def failures(self) -> list[Run]:
        return [r for r in self.runs if r.status == "error"]

    @property
    def any_random(self) -> bool:
        return any(r.random_init for r in self.runs)


def families() -> dict[str, str]:
    """Model id -> pre-training family, in catalogue order."""
    from harness.models import catalog

    return {entry["id"]: entry["pretraining"] for entry in catalog()}


def load(db: Path, filters: Filters | None = None) -> ReportData:
    filters = filters or Filters()
    con = connect(db, read_only=True)
    try:
        wanted = [f"{suite}/{metric}" for suite, metric in COLUMNS]
        records = con.execute(LATEST, [wanted, *filters.params()]).fetchall()
        cursor = con.execute(RUNS, filters.params())
        columns = [d[0] for d in cursor.description or []]
        raw = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    runs = [_run(r) for r in raw]
    tables = build_tables(records, runs, families())
    return ReportData(tables, runs, summarise(tables), gains(tables), filters)


def _run(r: dict[str, Any]) -> Run:
    provenance = {k: "" if r[k] is None else str(r[k]) for k in PROVENANCE}
    return Run(r["run_id"], r["model"], r["dataset"], r["strategy"], r["suite"], json.loads(r["params"] or "{}"),
               r["status"], r["error"], bool(r["random_init"]), provenance, str(r["finished_at"] or ""))  # fmt: skip


def build_tables(records: list[tuple[Any, ...]], runs: list[Run], family_of: dict[str, str]) -> list[PaperTable]:
    """One table per strategy from (run_id, model, dataset, strategy, suite, metric, value, random_init) rows."""
    rows: dict[str, dict[str, Row]] = {}
    present: dict[str, set[tuple[str, str]]] = {}
    for run_id, model, dataset, strategy, suite, metric, value, random_init in records:
        label = COLUMNS[(suite, metric)]
        row = rows.setdefault(strategy, {}).setdefault(model, Row(model, _family(model, family_of), False))
        row.random_init |= bool(random_init)
        row.values[(dataset, label)] = Value(float(value), run_id)
        present.setdefault(strategy, set()).add((dataset, label))
    for run in runs:
        if run.status == "error":
            row = rows.setdefault(run.strategy, {}).setdefault(
                run.model, Row(run.model, _family(run.model, family_of), False)
            )
            row.random_init |= run.random_init
            row.failed.setdefault(run.dataset, run)
            present.setdefault(run.strategy, set()).add((run.dataset, COLUMNS[("retrieval", "mmp_at_5")]))
    order = [*dict.fromkeys(family_of.values()), OTHER_FAMILY]
    labels = list(COLUMNS.values())
    tables = []
    for strategy in sorted(rows, key=lambda s: (s != "pretrained", s != "toptuned", s)):
        columns = sorted(present[strategy], key=lambda c: (c[0], labels.index(c[1])))
        _rank(list(rows[strategy].values()), columns)
        groups = [(fam, sorted((r for r in rows[strategy].values() if r.family == fam), key=lambda r: r.model))
                  for fam in order]  # fmt: skip
        tables.append(PaperTable(strategy, columns, [(fam, members) for fam, members in groups if members]))
    return tables


def _family(model: str, family_of: dict[str, str]) -> str:
    return family_of.get(model) or family_of.get(re.sub(r"\[[^\]]*\]$", "", model)) or OTHER_FAMILY


def _rank(rows: list[Row], columns: list[tuple[str, str]]) -> None:
    for column in columns:
        cells = [row.values[column] for row in rows if column in row.values]
        distinct = sorted({c.value for c in cells}, reverse=True)
        for cell in cells:
            cell.rank = distinct.index(cell.value) + 1 if cell.value in distinct[:2] else 0


def summarise(tables: list[PaperTable]) -> list[str]:
    """One sentence per (dataset, strategy): the best model by mMP@5 and the runner-up."""
    sentences = []
    for table in tables:
        for dataset in table.datasets:
            scored = sorted(
                ((row.values[(dataset, "mMP@5")].value, row) for _, rows in table.groups for row in rows
                 if (dataset, "mMP@5") in row.values),
                key=lambda pair: (-pair[0], pair[1].model),
            )  # fmt: skip
            if not scored:
                continue
            value, best = scored[0]
            text = f"On {dataset}, the best {table.strategy} model by mMP@5 is {best.model} ({value:.4f})"
            if len(scored) > 1:
                text += f", ahead of {scored[1][1].model} ({scored[1][0]:.4f})"
            text += f" among {len(scored)} model{'s' if len(scored) > 1 else ''}."
            if best.random_init:
                text += " It is a RANDOM-INIT backbone: this checks the harness, not the model."
            sentences.append(text)
    return sentences


def gains(tables: list[PaperTable]) -> list[Gain]:
    """toptuned - pretrained mMP@5 for each (model, dataset) measured both ways."""
    by = {t.strategy: {r.model: r for _, rows in t.groups for r in rows} for t in tables}
    out = []
    for model, pre in sorted(by.get("pretrained", {}).items()):
        tuned = by.get("toptuned", {}).get(model)
        for (dataset, label), value in sorted(pre.values.items()):
            if label == "mMP@5" and tuned and (dataset, label) in tuned.values:
                out.append(Gain(model, dataset, value.value, tuned.values[(dataset, label)].value))
    return out
