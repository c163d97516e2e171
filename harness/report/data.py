"""What a report shows, read from the results database (bound parameters only) into plain dataclasses.

Paper-style tables per strategy (model x dataset; mMP@5, mR@1 and, where measured, classification accuracy),
models grouped by pre-training family (an uncatalogued model by its library: timm, open_clip, ...), each value
ranked in its column (1 best, 2 second) and tied to the run that produced it; the runs' provenance and rerun
commands; cost figures (the ``cost_ledger`` view); images per class (``dataset_classes``). What is derived from
them (decision summary, gains, Pareto frontiers, cross-tuning deltas) is in harness.report.analysis; the drawings
in harness.report.figures.

Cross-tuned rows (strategy ``crosstuned``) are told apart by their params' ``source`` (the dataset tuned on) and
``tuning`` (``toptuned`` or ``finetuned``): each pair is its own table row, e.g. ``toptuned on sop``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from harness.report.rerun import rerun_command
from harness.report.significance import mark_column
from harness.spec.metrics import label
from harness.storage.store import connect, dataset_match, dataset_matches, paired_values

#: (suite, metric) -> column label (from harness.spec.metrics), in column order
COLUMNS = {(suite, metric): label(metric) for suite, metric in
           (("retrieval", "mmp_at_5"), ("retrieval", "recall_at_1"), ("classification", "accuracy"))}  # fmt: skip
#: column label -> metric name
METRIC_OF = {lab: metric for (_, metric), lab in COLUMNS.items()}
#: (suite, interval metric) -> (the metric it bounds, "low" or "high")
INTERVALS = {(suite, f"{metric}_ci_{end}"): (metric, end) for suite, metric in COLUMNS for end in ("low", "high")}
OTHER_FAMILY = "other"
#: the most characters of an error a report shows inline (the full text is in ``runs.error``)
ERROR_LINE = 160
#: strategies in the order a report shows them; any other after them, alphabetically
STRATEGY_ORDER = ("pretrained", "toptuned", "finetuned", "crosstuned")
#: default --tolerance: absolute mMP@5 within which a cheaper model counts as good as the best
DEFAULT_TOLERANCE = 0.01
PROVENANCE = ("git_sha", "harness_version", "lock_hash", "image_digest", "weights_digest", "manifest_digest", "seed",
              "torch_version", "cuda_version", "device", "gpu", "cpu")  # fmt: skip

#: the report's filters (bound by ``Filters.params``); a dataset filter without options matches the id with any
#: options (``digits`` matches ``digits[per_class=30]``), one with options only itself
#: (harness.storage.store.dataset_match)
_FILTER = (
    f"(?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR {dataset_match()})"
    " AND (?::VARCHAR IS NULL OR strategy = ?)"
)
LATEST = f"""
    SELECT run_id, model, dataset, strategy, suite, metric, value, random_init, params FROM results
    WHERE list_contains(?, suite || '/' || metric) AND {_FILTER}
    QUALIFY row_number() OVER (
        PARTITION BY model, dataset, strategy, suite, metric,
                     CASE WHEN strategy = 'crosstuned' THEN params->>'source' END,
                     CASE WHEN strategy = 'crosstuned' THEN params->>'tuning' END
        ORDER BY finished_at DESC) = 1
"""
#: cost-suite figures a decision can rest on, in order of preference (see harness.report.analysis)
COST_METRICS = ("latency_b1_p50_ms", "gflops_per_image", "params")
# The model filter only: a model's inference cost does not depend on the dataset its cost cell read images from.
COSTS = """
    SELECT run_id, model, dataset, metric, value, device FROM cost_ledger
    WHERE suite = 'cost' AND list_contains(?, metric) AND (?::VARCHAR IS NULL OR model = ?)
    QUALIFY row_number() OVER (PARTITION BY model, dataset, metric ORDER BY finished_at DESC) = 1
    ORDER BY model, finished_at DESC
"""
# device-hours a run spent (extraction, tuning, training), the cost suite's own measurement left out
DEVICE_HOURS = r"""
    SELECT run_id, sum(value) FROM cost_ledger
    WHERE metric LIKE '%\_device\_hours' ESCAPE '\' AND metric NOT LIKE 'measure\_%' ESCAPE '\'
      AND (?::VARCHAR IS NULL OR model = ?)
    GROUP BY run_id
"""
# images per class of each dataset's newest recorded manifest
CLASS_COUNTS = f"""
    SELECT c.dataset, c.split, c.class_name, c.images FROM dataset_classes c
    JOIN (SELECT dataset, digest FROM datasets
          QUALIFY row_number() OVER (PARTITION BY dataset ORDER BY recorded_at DESC) = 1) d USING (dataset, digest)
    WHERE ?::VARCHAR IS NULL OR {dataset_match("c.dataset")}
    ORDER BY c.dataset, c.split <> 'train', c.split, c.images DESC, c.label
"""
# the per-epoch curve of each fine-tune (view training_curves: one row per job and epoch)
CURVES = f"""
    SELECT job, model, dataset, preset, epoch, train_loss, val_accuracy FROM training_curves
    WHERE (?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR {dataset_match()})
    ORDER BY model, dataset, preset, job, epoch
"""
# the newest audit (harness.workflows.audit): per audited run, how many of its compared metrics held
LAST_AUDIT = """
    SELECT a.run_id, r.model, r.dataset, r.strategy, r.suite, a.audited_at, a.device,
           count(*) FILTER (WHERE a.status <> 'not compared') AS compared,
           count(*) FILTER (WHERE a.status IN ('identical', 'within')) AS held,
           max(a.tolerance) AS tolerance, string_agg(DISTINCT a.note, '; ') AS notes
    FROM audits a LEFT JOIN runs r USING (run_id)
    WHERE a.audit_id = (SELECT audit_id FROM audits ORDER BY audited_at DESC, audit_id LIMIT 1)
    GROUP BY ALL ORDER BY r.model, r.dataset, r.strategy, r.suite
"""
# each run's newest audit: when, and whether every compared metric held
RUN_AUDITS = """
    SELECT run_id, audited_at, bool_and(status IN ('identical', 'within', 'not compared')) AS held FROM audits
    GROUP BY run_id, audit_id, audited_at
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY audited_at DESC) = 1
"""
# every seed's newest value of the table metrics, for mean +- sd across seeds (cells that train)
SEEDED = f"""
    SELECT model, dataset, strategy, suite, metric, params->>'source', params->>'tuning', params->>'seed', value
    FROM results
    WHERE list_contains(?, suite || '/' || metric) AND params->>'seed' IS NOT NULL AND {_FILTER}
    QUALIFY row_number() OVER (
        PARTITION BY model, dataset, strategy, suite, metric, params->>'source', params->>'tuning', params->>'seed'
        ORDER BY finished_at DESC) = 1
    ORDER BY model, dataset, strategy, suite, metric, params->>'source', params->>'tuning',
             TRY_CAST(params->>'seed' AS INTEGER)
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
        """Bound parameters of ``_FILTER``: model and strategy twice, the dataset four times."""
        return [self.model, self.model, *self.dataset_params(), self.strategy, self.strategy]

    def dataset_params(self) -> list[str | None]:
        """Bound parameters of ``(? IS NULL OR <dataset_match>)``."""
        return [self.dataset] * 4

    def matches(self, model: str, dataset: str, strategy: str) -> bool:
        """The same filter, for rows already read."""
        if self.dataset is not None and not dataset_matches(self.dataset, dataset):
            return False
        return all(want is None or want == got for want, got in ((self.model, model), (self.strategy, strategy)))

    def canonical(self) -> Filters:
        """The dataset filter in its canonical id form (``digits[ per_class = 30 ]`` -> ``digits[per_class=30]``),
        as runs store it; a filter that does not parse as an id is kept as written (it matches nothing)."""
        from harness.core.errors import HarnessError
        from harness.spec.ids import parse_ref

        if self.dataset is None:
            return self
        try:
            return dataclasses.replace(self, dataset=str(parse_ref(self.dataset, "dataset")))
        except HarnessError:
            return self

    @property
    def slug(self) -> str:
        """The filters as part of a file name (``dataset-digits``); "" for none. A filtered report is written
        beside the main one, never over it."""
        named = (("model", self.model), ("dataset", self.dataset), ("strategy", self.strategy))
        return ".".join(f"{name}-{re.sub(r'[^A-Za-z0-9=+-]+', '_', value).strip('_')}"
                        for name, value in named if value is not None)  # fmt: skip


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
    audit: str = ""  # its newest audit: "2026-12-01 19:10 UTC: held" (or "did not hold"); "" if never audited

    @property
    def command(self) -> str:
        return rerun_command(self.model, self.dataset, self.suite, self.strategy, self.params)

    @property
    def cell(self) -> str:
        """model / dataset / strategy / suite: the cell a failure belongs to."""
        return " / ".join((self.model, self.dataset, self.strategy, self.suite))

    @property
    def error_line(self) -> str:
        """The error's first line, cut to ``ERROR_LINE`` characters: a report shows this, the full text in a
        tooltip and in the database (an error can run to hundreds of characters and several lines)."""
        return one_line(self.error or "")


@dataclass
class Value:
    value: float
    run_id: str
    rank: int = 0  # 1 best in its column, 2 second, 0 otherwise
    low: float | None = None  # the 95% bootstrap interval over queries (test images), where stored
    high: float | None = None
    #: not significantly worse than the column's best (paired test, Holm-corrected); the best itself is True;
    #: None where per-query values are missing or the column has a single value
    tied: bool | None = None
    p_value: float | None = None  # Holm-adjusted p of the paired test against the column's best
    #: each seed's value where the cell ran under several seeds (``seeds = [...]``), in seed order; else empty
    seeds: tuple[float, ...] = ()

    @property
    def seed_mean(self) -> float | None:
        return statistics.fmean(self.seeds) if len(self.seeds) > 1 else None

    @property
    def seed_sd(self) -> float | None:
        """Sample standard deviation across seeds (n - 1 in the denominator)."""
        return statistics.stdev(self.seeds) if len(self.seeds) > 1 else None

    @property
    def spread(self) -> str:
        """Training noise next to the evaluation noise: ``0.8120 ± 0.0040 (2 seeds)``; "" for a single seed."""
        if self.seed_mean is None or self.seed_sd is None:
            return ""
        return f"{self.seed_mean:.4f} ± {self.seed_sd:.4f} ({len(self.seeds)} seeds)"

    @property
    def interval(self) -> str:
        return "" if self.low is None or self.high is None else f"[{self.low:.4f}, {self.high:.4f}]"

    @property
    def text(self) -> str:
        """The value with its interval (and the spread across seeds): ``0.8123 [0.7950, 0.8290]``."""
        return " ".join(part for part in (f"{self.value:.4f}", self.interval, self.spread) if part)


@dataclass
class Row:
    model: str
    family: str
    random_init: bool
    source: str = ""  # cross-tuned rows: the dataset tuned on
    tuning: str = ""  # cross-tuned rows: toptuned or finetuned
    values: dict[tuple[str, str], Value] = field(default_factory=dict)  # (dataset, label) -> value
    failed: dict[str, Run] = field(default_factory=dict)  # dataset -> the failed run (no value there)

    @property
    def variant(self) -> str:
        return f"{self.tuning} on {self.source}" if self.source or self.tuning else ""

    @property
    def label(self) -> str:
        return f"{self.model} {self.variant}" if self.variant else self.model


@dataclass
class PaperTable:
    strategy: str
    columns: list[tuple[str, str]]  # (dataset, label)
    groups: list[tuple[str, list[Row]]]  # (family, rows): catalogue order, then library families, "other" last

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for d, _ in self.columns))

    @property
    def rows(self) -> list[Row]:
        return [row for _, rows in self.groups for row in rows]


@dataclass
class Cost:
    value: float
    device: str
    dataset: str  # the dataset whose images the cost cell read
    run_id: str


@dataclass
class Costs:
    figures: dict[tuple[str, str], list[Cost]] = field(default_factory=dict)  # (model, metric) -> newest first
    device_hours: dict[str, float] = field(default_factory=dict)  # run_id -> device-hours the run spent

    def of(self, model: str, metric: str, dataset: str) -> Cost | None:
        """The cost cell on the same dataset where there is one, else the model's newest on any dataset."""
        found = self.figures.get((model, metric), [])
        return next((c for c in found if c.dataset == dataset), found[0] if found else None)


@dataclass
class ClassCounts:
    dataset: str
    split: str
    counts: list[tuple[str, int]]  # (class name, images), most images first


@dataclass
class Curve:
    """One fine-tune's per-epoch training loss and held-out accuracy (None where it kept no hold-out)."""

    job: str
    model: str
    dataset: str
    preset: str
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)


@dataclass
class AuditedCell:
    label: str  # model / dataset / strategy / suite
    compared: int  # metrics compared (cost figures are not)
    held: int  # of those, identical or within the tolerance
    tolerance: float
    notes: str


@dataclass
class Audit:
    """The newest ``ecombench audit`` of the database."""

    audited_at: str
    device: str
    cells: list[AuditedCell]

    @property
    def held(self) -> int:
        return sum(c.compared == c.held and c.compared > 0 for c in self.cells)


@dataclass
class ReportData:
    tables: list[PaperTable]
    runs: list[Run]
    costs: Costs
    class_counts: list[ClassCounts]
    filters: Filters
    tolerance: float = DEFAULT_TOLERANCE
    curves: list[Curve] = field(default_factory=list)
    audit: Audit | None = None

    @property
    def failures(self) -> list[Run]:
        return [r for r in self.runs if r.status == "error"]

    @property
    def any_random(self) -> bool:
        return any(r.random_init for r in self.runs)

    def table(self, strategy: str) -> PaperTable | None:
        return next((t for t in self.tables if t.strategy == strategy), None)


def one_line(text: str, limit: int = ERROR_LINE) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters in its middle (an ellipsis marks the
    cut): an error's start says what failed and its end often why (``... does not exist``)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) <= limit:
        return line
    tail = limit // 3
    return line[: limit - tail - 1] + "…" + line[-tail:]


def families() -> dict[str, str]:
    """Model id -> pre-training family, in catalogue order."""
    from harness.compute.models import catalog

    return {entry["id"]: entry["pretraining"] for entry in catalog()}


def load(db: Path, filters: Filters | None = None, tolerance: float = DEFAULT_TOLERANCE) -> ReportData:
    filters = filters or Filters()
    con = connect(db, read_only=True)
    try:
        wanted = [f"{suite}/{metric}" for suite, metric in [*COLUMNS, *INTERVALS]]
        records = con.execute(LATEST, [wanted, *filters.params()]).fetchall()
        cursor = con.execute(RUNS, filters.params())
        columns = [d[0] for d in cursor.description or []]
        raw = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        costs = Costs()
        for run_id, model, dataset, metric, value, device in con.execute(
            COSTS, [list(COST_METRICS), filters.model, filters.model]
        ).fetchall():
            costs.figures.setdefault((model, metric), []).append(Cost(float(value), device or "", dataset, run_id))
        costs.device_hours = dict(con.execute(DEVICE_HOURS, [filters.model, filters.model]).fetchall())
        counts: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for dataset, split, class_name, images in con.execute(CLASS_COUNTS, filters.dataset_params()).fetchall():
            counts.setdefault((dataset, split), []).append((class_name, int(images)))
        curves = _curves(con, filters)
        runs = [_run(r) for r in raw]
        audit = _audits(con, runs)
        tables = build_tables(records, runs, families())
        attach_seeds(tables, con.execute(SEEDED, [[f"{s}/{m}" for s, m in COLUMNS], *filters.params()]).fetchall())
        pairs = partial(paired_values, con)
        for table in tables:
            for column in table.columns:
                marked = [row.values[column] for row in table.rows if column in row.values]
                mark_column(marked, METRIC_OF[column[1]], pairs)
    finally:
        con.close()
    class_counts = [ClassCounts(dataset, split, rows) for (dataset, split), rows in counts.items()]
    return ReportData(tables, runs, costs, class_counts, filters, tolerance, curves, audit)


def _audits(con: Any, runs: list[Run]) -> Audit | None:
    """The newest audit, and each run's newest audit in ``Run.audit``; None for a database never audited."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'audits'").fetchone()[0]:
        return None
    by_run = {run_id: (at, held) for run_id, at, held in con.execute(RUN_AUDITS).fetchall()}
    for run in runs:
        if run.run_id in by_run:
            at, held = by_run[run.run_id]
            run.audit = f"{at:%Y-%m-%d %H:%M} UTC: {'held' if held else 'did not hold'}"
    rows = con.execute(LAST_AUDIT).fetchall()
    if not rows:
        return None
    cells = [AuditedCell(" / ".join(str(p or "?") for p in (model, dataset, strategy, suite)), int(compared),
                         int(held), float(tol), notes or "")
             for _, model, dataset, strategy, suite, _, _, compared, held, tol, notes in rows]  # fmt: skip
    return Audit(f"{rows[0][5]:%Y-%m-%d %H:%M} UTC", str(rows[0][6]), cells)


def _curves(con: Any, filters: Filters) -> list[Curve]:
    """Fine-tuning curves; a database last written before fine-tuning existed has no such view, so none."""
    if not con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'training_curves'").fetchone()[0]:
        return []
    curves: dict[str, Curve] = {}
    params = [filters.model, filters.model, *filters.dataset_params()]
    for job, model, dataset, preset, epoch, loss, accuracy in con.execute(CURVES, params).fetchall():
        curve = curves.setdefault(job, Curve(job, model, dataset, preset or ""))
        curve.epochs.append(int(epoch))
        curve.train_loss.append(float(loss))
        curve.val_accuracy.append(None if accuracy is None else float(accuracy))
    return list(curves.values())


def _run(r: dict[str, Any]) -> Run:
    provenance = {k: "" if r[k] is None else str(r[k]) for k in PROVENANCE}
    return Run(r["run_id"], r["model"], r["dataset"], r["strategy"], r["suite"], json.loads(r["params"] or "{}"),
               r["status"], r["error"], bool(r["random_init"]), provenance, _when(r["finished_at"]))  # fmt: skip


def _when(at: Any) -> str:
    """A run's finish time to the second (the database keeps microseconds)."""
    return f"{at:%Y-%m-%d %H:%M:%S}" if isinstance(at, datetime) else str(at or "")


def _cross(strategy: str, params: dict[str, Any]) -> tuple[str, str]:
    """(source, tuning) of a cross-tuned run; ("", "") for every other strategy."""
    if strategy != "crosstuned":
        return "", ""
    return str(params.get("source", "?")), str(params.get("tuning", "?"))


def build_tables(records: list[tuple[Any, ...]], runs: list[Run], family_of: dict[str, str]) -> list[PaperTable]:
    """One table per strategy from (run_id, model, dataset, strategy, suite, metric, value, random_init, params)."""
    rows: dict[str, dict[tuple[str, str, str], Row]] = {}
    present: dict[str, set[tuple[str, str]]] = {}

    def row_of(model: str, strategy: str, params: dict[str, Any]) -> Row:
        source, tuning = _cross(strategy, params)
        return rows.setdefault(strategy, {}).setdefault(
            (model, source, tuning), Row(model, _family(model, family_of), False, source, tuning)
        )

    bounds: dict[tuple[str, str], dict[str, float]] = {}  # (run_id, metric) -> {"low": .., "high": ..}
    for run_id, _, _, _, suite, metric, value, _, _ in records:
        if (suite, metric) in INTERVALS:
            bounded, end = INTERVALS[(suite, metric)]
            bounds.setdefault((run_id, bounded), {})[end] = float(value)
    for run_id, model, dataset, strategy, suite, metric, value, random_init, params in records:
        if (suite, metric) in INTERVALS:
            continue
        label = COLUMNS[(suite, metric)]
        interval = bounds.get((run_id, metric), {})
        row = row_of(model, strategy, json.loads(params) if isinstance(params, str) else dict(params or {}))
        row.random_init |= bool(random_init)
        row.values[(dataset, label)] = Value(float(value), run_id, low=interval.get("low"), high=interval.get("high"))
        present.setdefault(strategy, set()).add((dataset, label))
    for run in runs:  # a failure opens no row and no column: it is only marked where both have values
        mmp = (run.dataset, COLUMNS[("retrieval", "mmp_at_5")])
        if run.status != "error" or mmp not in present.get(run.strategy, ()):
            continue
        found = rows.get(run.strategy, {}).get((run.model, *_cross(run.strategy, run.params)))
        if found is not None:
            found.failed.setdefault(run.dataset, run)
    order = list(dict.fromkeys([*family_of.values(), *library_families(), OTHER_FAMILY]))
    labels = list(COLUMNS.values())
    tables = []
    for strategy in sorted(rows, key=strategy_order):
        columns = sorted(present[strategy], key=lambda c: (c[0], labels.index(c[1])))
        _rank(list(rows[strategy].values()), columns)
        groups = [(fam, sorted((r for r in rows[strategy].values() if r.family == fam), key=lambda r: r.label))
                  for fam in order]  # fmt: skip
        tables.append(PaperTable(strategy, columns, [(fam, members) for fam, members in groups if members]))
    return tables


def attach_seeds(tables: list[PaperTable], seeded: list[tuple[Any, ...]]) -> None:
    """Each table value's per-seed values, from (model, dataset, strategy, suite, metric, source, tuning, seed,
    value) rows ordered by seed; a value with a single seed keeps none (no spread to show)."""
    per: dict[tuple[str, str, str, str, str, str], list[float]] = {}
    for model, dataset, strategy, suite, metric, source, tuning, _, value in seeded:
        cross = _cross(strategy, {"source": source, "tuning": tuning})
        key = (strategy, model, *cross, dataset, COLUMNS[(suite, metric)])
        per.setdefault(key, []).append(float(value))
    for table in tables:
        for row in table.rows:
            for (dataset, lab), value in row.values.items():
                found = per.get((table.strategy, row.model, row.source, row.tuning, dataset, lab), [])
                value.seeds = tuple(found) if len(found) > 1 else ()


def strategy_order(strategy: str) -> tuple[int, str]:
    return (STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER), strategy)


def _family(model: str, family_of: dict[str, str]) -> str:
    """The catalogue's pre-training family; else the model's library family (``timm``, ``open_clip``, ...: its
    id's prefix), so that an uncatalogued backbone is grouped with its kind; ``other`` for anything else."""
    found = family_of.get(model) or family_of.get(re.sub(r"\[[^\]]*\]$", "", model))
    if found:
        return found
    kind, sep, _ = model.partition(":")
    return kind if sep and kind in library_families() else OTHER_FAMILY


def library_families() -> list[str]:
    """The model families of harness.compute.models (timm, open_clip, checkpoint, wheel, pixels), in registry order."""
    from harness.compute.models import FAMILIES

    return list(FAMILIES)


def _rank(rows: list[Row], columns: list[tuple[str, str]]) -> None:
    for column in columns:
        cells = [row.values[column] for row in rows if column in row.values]
        distinct = sorted({c.value for c in cells}, reverse=True)
        for cell in cells:
            cell.rank = distinct.index(cell.value) + 1 if cell.value in distinct[:2] else 0
