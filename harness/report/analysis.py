"""What a report concludes from its data: the decision summary, tuning gains, quality-versus-cost points with
their Pareto frontier, and cross-tuning deltas. Pure functions of harness.report.data's dataclasses.

Quality is mMP@5 throughout. A model's inference cost is a cost-suite figure (``COST_METRICS``, in order of
preference: batch-1 latency p50, GFLOPs per image, parameters), taken from the cost cell on the same dataset
where there is one, else from the model's newest cost cell. A result's training cost is the device-hours its
own run recorded (``*_device_hours`` in the cost ledger: extraction, tuner search, head or full training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.compute.stats import ALPHA
from harness.report.data import COST_METRICS, Costs, PaperTable, ReportData, Row

MMP = "mMP@5"
TUNED = ("toptuned", "finetuned")  # strategies whose gain over pretrained is drawn
DEVICE_HOURS = "device_hours"


@dataclass(frozen=True)
class Axis:
    what: str  # in a sentence: "at 3.1x lower <what>"
    label: str  # on a chart's axis
    fmt: Callable[[float], str]  # one value, with its unit


AXES = {
    "latency_b1_p50_ms": Axis("batch-1 latency p50", "batch-1 latency p50 (ms)", lambda v: f"{v:.2f} ms"),
    "gflops_per_image": Axis("GFLOPs per image", "GFLOPs per image", lambda v: f"{v:.2f} GFLOPs"),
    "params": Axis("parameter count", "parameters", lambda v: f"{v:,.0f} parameters"),
    DEVICE_HOURS: Axis(
        "device-hours", "device-hours of the run (extraction, tuning, training)", lambda v: f"{v:.3g} h"
    ),
}


@dataclass(frozen=True)
class Point:
    label: str
    x: float  # cost: lower is better
    y: float  # quality: higher is better
    random_init: bool = False


def pareto_frontier(points: list[Point]) -> list[Point]:
    """The points no other point beats (as cheap or cheaper and strictly better, or cheaper and as good), by cost.

    Of points equal in both cost and quality only the first by label is kept.
    """
    frontier: list[Point] = []
    for point in sorted(points, key=lambda p: (p.x, -p.y, p.label)):
        if not frontier or point.y > frontier[-1].y:
            frontier.append(point)
    return frontier


@dataclass
class Scatter:
    dataset: str
    strategy: str  # a strategy, or "all" when points are (model, strategy) pairs
    metric: str  # a key of AXES
    points: list[Point]
    notes: list[str] = field(default_factory=list)

    @property
    def frontier(self) -> list[Point]:
        return pareto_frontier(self.points)

    @property
    def axis(self) -> Axis:
        return AXES[self.metric]

    def frontier_text(self) -> str:
        return ", then ".join(f"{p.label} ({self.axis.fmt(p.x)}, {p.y:.4f})" for p in self.frontier)


@dataclass
class Gain:
    model: str
    dataset: str
    strategy: str  # toptuned or finetuned
    pretrained: float
    tuned: float

    @property
    def gain(self) -> float:
        return self.tuned - self.pretrained


@dataclass
class CrossCell:
    value: float  # mMP@5 on the target after tuning on the source
    baseline: float | None  # the same model's pre-trained mMP@5 on the target

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.value - self.baseline


@dataclass
class CrossGrid:
    model: str
    tuning: str
    random_init: bool
    datasets: list[str]  # both axes: rows = tuned on (source), columns = evaluated on (target)
    cells: dict[tuple[str, str], CrossCell]  # (source, target) -> cell


def _mmp(row: Row, dataset: str) -> float | None:
    value = row.values.get((dataset, MMP))
    return None if value is None else value.value


def _plain(table: PaperTable | None) -> dict[str, Row]:
    return {row.model: row for row in table.rows if not row.variant} if table else {}


def gains(data: ReportData) -> list[Gain]:
    """tuned - pretrained mMP@5 for each (model, dataset) measured both ways, per tuned strategy."""
    pretrained = _plain(data.table("pretrained"))
    out = []
    for strategy in TUNED:
        for model, tuned in sorted(_plain(data.table(strategy)).items()):
            for dataset in sorted({d for d, _ in tuned.values}):
                after = _mmp(tuned, dataset)
                before = _mmp(pretrained[model], dataset) if model in pretrained else None
                if after is not None and before is not None:
                    out.append(Gain(model, dataset, strategy, before, after))
    return out


def cross_grids(data: ReportData) -> list[CrossGrid]:
    """One grid per (model, tuning) of cross-tuned mMP@5 minus the same model's pre-trained mMP@5 on the target;
    a grid without a single pre-trained baseline is left out."""
    table = data.table("crosstuned")
    pretrained = _plain(data.table("pretrained"))
    grids: dict[tuple[str, str], CrossGrid] = {}
    for row in table.rows if table else []:
        grid = grids.setdefault((row.model, row.tuning), CrossGrid(row.model, row.tuning, False, [], {}))
        grid.random_init |= row.random_init
        for (target, label), value in row.values.items():
            if label == MMP:
                base = pretrained.get(row.model)
                grid.cells[(row.source, target)] = CrossCell(value.value, _mmp(base, target) if base else None)
    out = []
    for key in sorted(grids):
        grid = grids[key]
        grid.datasets = sorted({d for cell in grid.cells for d in cell})
        if any(cell.delta is not None for cell in grid.cells.values()):
            out.append(grid)
    return out


def choose_cost_metric(models: list[str], dataset: str, costs: Costs) -> str | None:
    """The cost figure measured for the most of ``models`` (ties: COST_METRICS' order); None when none is."""
    coverage = [(sum(costs.of(m, metric, dataset) is not None for m in models), -i, metric)
                for i, metric in enumerate(COST_METRICS)]  # fmt: skip
    count, _, metric = max(coverage)
    return metric if count else None


def quality_vs_cost(data: ReportData) -> list[Scatter]:
    """Per (dataset, strategy): mMP@5 against the models' inference cost; charts of fewer than 2 points left out."""
    out = []
    for table in data.tables:
        if table.strategy == "crosstuned":
            continue
        for dataset in table.datasets:
            rows = [row for row in table.rows if _mmp(row, dataset) is not None]
            metric = choose_cost_metric([row.model for row in rows], dataset, data.costs)
            if metric is None:
                continue
            points, devices = [], set()
            for row in rows:
                cost = data.costs.of(row.model, metric, dataset)
                if cost is not None:
                    points.append(Point(row.model, cost.value, _mmp(row, dataset) or 0.0, row.random_init))
                    devices.add(cost.device)
            notes = (
                [f"{len(rows) - len(points)} model(s) without this cost figure left out."]
                if len(points) < len(rows)
                else []
            )
            if metric == "latency_b1_p50_ms" and len(devices) > 1:
                notes.append(f"Latencies measured on different devices ({', '.join(sorted(devices))}).")
            if len(points) >= 2:
                out.append(Scatter(dataset, table.strategy, metric, points, notes))
    return out


def quality_vs_device_hours(data: ReportData) -> list[Scatter]:
    """Per dataset: mMP@5 of each (model, strategy) against the device-hours its run spent; drawn only where a
    tuned strategy is among at least 2 points."""
    points: dict[str, list[Point]] = {}
    for table in data.tables:
        if table.strategy == "crosstuned":
            continue
        for row in table.rows:
            for (dataset, label), value in row.values.items():
                hours = data.costs.device_hours.get(value.run_id)
                if label == MMP and hours is not None:
                    point = Point(f"{row.model} · {table.strategy}", hours, value.value, row.random_init)
                    points.setdefault(dataset, []).append(point)
    return [
        Scatter(dataset, "all", DEVICE_HOURS, found)
        for dataset, found in sorted(points.items())
        if len(found) >= 2 and any(not p.label.endswith(" · pretrained") for p in found)
    ]


def summarise(data: ReportData) -> list[tuple[str, list[str]]]:
    """Per dataset, one sentence per strategy: the best model by mMP@5, and the cheapest within the tolerance."""
    out: dict[str, list[str]] = {}
    for table in data.tables:
        for dataset in table.datasets:
            scored = sorted(
                ((value, row) for row in table.rows if (value := _mmp(row, dataset)) is not None),
                key=lambda pair: (-pair[0], pair[1].label),
            )
            if scored:
                out.setdefault(dataset, []).append(_sentence(dataset, table.strategy, scored, data))
    return sorted(out.items())


def _sentence(dataset: str, strategy: str, scored: list[tuple[float, Row]], data: ReportData) -> str:
    best = scored[0][1]
    many = f" of {len(scored)}" if len(scored) > 1 else ""
    if best.random_init:  # a random-init backbone is no "best pretrained model", whatever it scores
        text = f"On {dataset}, the top {strategy}-strategy scorer{many} is {best.label}"
    else:
        text = f"On {dataset}, the best {strategy} model{many} is {best.label}"
    text += f" (mMP@5 {_with_interval(best, dataset)})"
    text += _runner_up(scored[1][1], dataset) if len(scored) > 1 else "."
    if best.random_init:
        text += " It is a RANDOM-INIT backbone: this checks the harness, not the model."
    if len(scored) > 1:
        text += _cheapest(dataset, scored, data.costs, data.tolerance)
    trained = next(((v, row) for v, row in scored if not row.random_init), None)
    if best.random_init and trained:
        text += f" The best trained backbone is {trained[1].label} (mMP@5 {trained[0]:.4f})."
    return text


def _with_interval(row: Row, dataset: str) -> str:
    return row.values[(dataset, MMP)].text


def _runner_up(second: Row, dataset: str) -> str:
    """How the best compares with the second: tied within noise, significantly ahead, or (untested) ahead."""
    value = second.values[(dataset, MMP)]
    shown = f"{second.label} ({value.text}"
    if value.tied is None or value.p_value is None:
        return f", ahead of {shown})."
    p = f"paired test, Holm-corrected p = {value.p_value:.3g}"
    if value.tied:
        return f"; it and {shown}) are tied within noise ({p} ≥ {ALPHA:g})."
    return f", significantly ahead of {shown}; {p} < {ALPHA:g})."


def _cheapest(dataset: str, scored: list[tuple[float, Row]], costs: Costs, tolerance: float) -> str:
    value, best = scored[0]
    tol = f"{tolerance:g}"
    near = [(v, row) for v, row in scored if v >= value - tolerance - 1e-12]
    if len(near) == 1:
        return f" No other model is within {tol} of it."
    metric = choose_cost_metric([row.model for _, row in near], dataset, costs)
    if metric is None:
        whats = ", ".join(AXES[m].what for m in COST_METRICS)
        return (f" {len(near) - 1} other model(s) are within {tol} of it, but none of them has a cost figure"
                f" ({whats}): run the cost suite to find the cheapest.")  # fmt: skip
    axis = AXES[metric]
    measured = [(cost, v, row) for v, row in near if (cost := costs.of(row.model, metric, dataset)) is not None]
    cost, v, cheap = min(measured, key=lambda t: (t[0].value, -t[1], t[2].label))
    best_cost = costs.of(best.model, metric, dataset)
    if cheap is best:
        text = f" Of the {len(near)} models within {tol} of it, it is also the cheapest by {axis.what}"
        text += f" ({axis.fmt(cost.value)})."
    elif best_cost is None:
        text = (f" The cheapest model within {tol} of it by {axis.what} is {cheap.label} (mMP@5 {v:.4f},"
                f" {axis.fmt(cost.value)}); the best has no {axis.what} figure.")  # fmt: skip
    else:
        ratio = f"{best_cost.value / cost.value:.1f}x " if cost.value > 0 else ""
        text = (f" {cheap.label} (mMP@5 {v:.4f}) is within {tol} of it at {ratio}lower {axis.what}"
                f" ({axis.fmt(cost.value)} against {axis.fmt(best_cost.value)}).")  # fmt: skip
    if len(measured) < len(near):
        missing = len(near) - len(measured)
        verb = "has" if missing == 1 else "have"
        text += f" {missing} of the {len(near)} models within {tol} {verb} no {axis.what} figure."
    devices = {c.device for c, _, _ in measured} | ({best_cost.device} if best_cost else set())
    if metric == "latency_b1_p50_ms" and len(devices) > 1:
        text += f" Careful: these latencies were measured on different devices ({', '.join(sorted(devices))})."
    return text
