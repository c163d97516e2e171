"""The HTML report's figures as inline SVG, drawn by small functions (no plotting library, nothing fetched).

Every text in a figure passes ``markupsafe.escape`` (a model id is data, never markup); every value a colour or
a position shows is also written as text, in the figure or in its <title> tooltip.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from markupsafe import Markup, escape

from harness.report.analysis import CrossGrid, Gain, Scatter
from harness.report.data import ClassCounts, Curve

CHAR = 6.8  # approximate width of a 12px sans-serif character, for margins
MAX_LABEL = 44  # longer labels are cut (the whole text stays in the <title>)
ACCENT, WARN, MUTED, LINE, GRID = "#1a5fb4", "#b3261e", "#5f6368", "#d0d4d9", "#eef0f2"
DASHED = ' stroke-width="2" stroke-dasharray="5 3"'
SMALL = ' font-size="11"'
BLUE, RED = (26, 95, 180), (179, 38, 30)


def _label(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "", extra: str = "") -> str:
    inner = _title(tip) if tip else ""
    return f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{fill}"{extra}>{inner}</rect>'


def _svg(width: float, height: float, label: str, body: list[str]) -> Markup:
    w, h = math.ceil(width), math.ceil(height)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(label)}"'
        f' width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="system-ui, sans-serif" font-size="12"'
        f' fill="#1d1d1f">{_title(label)}{"".join(body)}</svg>'
    )


def _plot_frame(
    left: float, top: float, plot_w: float, plot_h: float, y_ticks: list[float], py: Callable[[float], float]
) -> list[str]:
    """The plot area's border and its horizontal grid lines, each value written at the left."""
    body = [_rect(left, top, plot_w, plot_h, "none", extra=f' stroke="{LINE}"')]
    for tick in y_ticks:
        body.append(_line(left, py(tick), left + plot_w, py(tick), GRID))
        body.append(_text(left - 6, py(tick) + 4, f"{tick:.2f}", "end"))
    return body


def _legend_entry(x: float, colour: str, style: str, text: str) -> list[str]:
    """A short line in the series' colour and style, then its name, along the top of a chart."""
    return [_line(x, 13, x + 24, 13, colour, style), _text(x + 30, 17, text, "start", SMALL)]


def gain_chart(gains: list[Gain]) -> Markup:
    """Horizontal bars of tuned - pretrained mMP@5 around a zero line, one per (model, dataset)."""
    labels = [_label(f"{g.model} · {g.dataset}", 60) for g in gains]
    left = min(420, max(len(label) for label in labels) * CHAR + 12)
    half, bar, gap = 150.0, 18, 6
    scale = max(abs(g.gain) for g in gains) or 1.0
    zero = left + half
    height = len(gains) * (bar + gap) + 8
    body = [_line(zero, 0, zero, height, MUTED)]
    for i, (g, label) in enumerate(zip(gains, labels, strict=True)):
        y = i * (bar + gap) + 4
        w = abs(g.gain) / scale * (half - 10)
        x = zero if g.gain >= 0 else zero - w
        colour = ACCENT if g.gain >= 0 else WARN
        tip = f"{g.model} on {g.dataset}: {g.strategy} {g.tuned:.4f} - pretrained {g.pretrained:.4f} = {g.gain:+.4f}"
        body.append(_text(left - 6, y + 13, label, "end"))
        body.append(_rect(x, y, w, bar, colour, tip))
        body.append(_text(zero + half + 6, y + 13, f"{g.gain:+.4f}"))
    return _svg(zero + half + 64, height, f"{gains[0].strategy} gain over pretrained mMP@5", body)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    steps = (1,) if len(decades) > 3 else (1, 2, 5)
    return [m * 10.0**k for k in decades for m in steps if lo <= m * 10.0**k <= hi]


def _tick_text(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def scatter_chart(scatter: Scatter) -> Markup:
    """mMP@5 against a cost; every point labelled by model, the Pareto frontier as a step line (log x when the
    costs span a factor of 10 or more)."""
    width, height, left, right, top, bottom = 560.0, 340.0, 58.0, 16.0, 30.0, 46.0
    xs, ys = [p.x for p in scatter.points], [p.y for p in scatter.points]
    log = min(xs) > 0 and max(xs) / min(xs) >= 10
    if log:
        x_lo, x_hi = 10 ** (math.log10(min(xs)) - 0.08), 10 ** (math.log10(max(xs)) + 0.08)
        ticks = _log_ticks(x_lo, x_hi)
    else:
        pad = (max(xs) - min(xs)) * 0.08 or abs(max(xs)) * 0.1 or 1.0
        x_lo, x_hi = max(0.0, min(xs) - pad), max(xs) + pad
        ticks = _nice_ticks(x_lo, x_hi)
    y_lo = max(0.0, math.floor((min(ys) - 0.02) * 20) / 20)
    y_hi = min(1.0, math.ceil((max(ys) + 0.02) * 20) / 20)
    y_lo, y_hi = (y_lo, y_hi) if y_hi > y_lo else (max(0.0, y_lo - 0.05), y_lo + 0.05)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        t = (
            (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))
            if log
            else (x - x_lo) / (x_hi - x_lo)
        )
        return left + t * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * plot_h

    body = _plot_frame(left, top, plot_w, plot_h, _nice_ticks(y_lo, y_hi, 4), py)
    for tick in ticks:
        body.append(_line(px(tick), top, px(tick), top + plot_h, GRID))
        body.append(_text(px(tick), top + plot_h + 15, _tick_text(tick), "middle"))
    x_title = scatter.axis.label + (" — log scale" if log else "")
    body.append(_text(left + plot_w / 2, height - 8, x_title, "middle", f' fill="{MUTED}"'))
    middle = top + plot_h / 2
    body.append(_text(14, middle, "mMP@5", "middle", f' fill="{MUTED}" transform="rotate(-90 14 {middle:.1f})"'))
    frontier = scatter.frontier
    if len(frontier) > 1:
        path = f"M{px(frontier[0].x):.1f},{py(frontier[0].y):.1f}"
        for point in frontier[1:]:
            path += f" H{px(point.x):.1f} V{py(point.y):.1f}"
        body.append(f'<path d="{path}" fill="none" stroke="{ACCENT}"{DASHED}/>')
    on_frontier = {id(p) for p in frontier}
    for point in sorted(scatter.points, key=lambda p: (p.x, p.y)):
        x, y = px(point.x), py(point.y)
        colour = ACCENT if id(point) in on_frontier else MUTED
        tip = f"{point.label}: {scatter.axis.fmt(point.x)}, mMP@5 {point.y:.4f}" + (
            " (RANDOM-INIT)" if point.random_init else ""
        )
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" stroke="white">{_title(tip)}</circle>')
        label = ("⚠ " if point.random_init else "") + _label(point.label, 40)
        right_half = x > left + plot_w * 0.55  # label on the side with room for it
        body.append(_text(x - 7 if right_half else x + 7, y - 7, label, "end" if right_half else "start", SMALL))
    body += _legend_entry(left, ACCENT, DASHED, "Pareto frontier (blue); grey points are dominated")
    label = f"mMP@5 against {scatter.axis.what} on {scatter.dataset} ({scatter.strategy})"
    return _svg(width, height, label, body)


def _diverging(delta: float, scale: float) -> tuple[str, str]:
    """(fill, text colour): white at 0, blue above, red below, full colour at ``scale``."""
    t = min(1.0, abs(delta) / scale) if scale > 0 else 0.0
    base = BLUE if delta >= 0 else RED
    r, g, b = (round(255 + (c - 255) * t) for c in base)
    return f"rgb({r},{g},{b})", "white" if t > 0.55 else "#1d1d1f"


def heatmap_chart(grid: CrossGrid) -> Markup:
    """Source (tuned on) x target (evaluated on) grid of cross-tuned minus pre-trained mMP@5, value in each cell."""
    names = [_label(d, 36) for d in grid.datasets]
    cell_w, cell_h = 86, 34
    left = max(len(n) for n in names) * CHAR + 16
    top = max(len(n) for n in names) * CHAR * 0.6 + 34
    deltas = [c.delta for c in grid.cells.values() if c.delta is not None]
    scale = max(abs(d) for d in deltas) if deltas else 0.0
    n = len(names)
    body = [_text(4, 14, "rows: tuned on · columns: evaluated on", "start", f' fill="{MUTED}" font-size="11"')]
    for j, name in enumerate(names):
        x, y = left + j * cell_w + cell_w / 2, top - 8
        body.append(_text(x, y, name, "start", f' transform="rotate(-35 {x:.1f} {y:.1f})"'))
    for i, source in enumerate(grid.datasets):
        body.append(_text(left - 8, top + i * cell_h + cell_h / 2 + 4, names[i], "end"))
        for j, target in enumerate(grid.datasets):
            x, y = left + j * cell_w, top + i * cell_h
            cell = grid.cells.get((source, target))
            if cell is None or cell.delta is None:
                fill, ink, text = "#f1f3f4", MUTED, "—"
                tip = f"tuned on {source}, evaluated on {target}: " + (
                    "not run" if cell is None else f"{cell.value:.4f}, no pre-trained result to compare with"
                )
            else:
                fill, ink = _diverging(cell.delta, scale)
                text = f"{cell.delta:+.4f}"
                tip = (f"tuned on {source}, evaluated on {target}: {cell.value:.4f} against pre-trained "
                       f"{cell.baseline:.4f} ({text})")  # fmt: skip
            body.append(_rect(x, y, cell_w, cell_h, fill, tip, ' stroke="white"'))
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, text, "middle", f' fill="{ink}"'))
    legend_y = top + n * cell_h + 22
    for k, (delta, word) in enumerate(((-scale, "worse"), (0.0, "same"), (scale, "better than pre-trained"))):
        fill, _ = _diverging(delta, scale)
        x = left + k * 70
        body.append(_rect(x, legend_y - 11, 14, 14, fill, extra=f' stroke="{LINE}"'))
        body.append(_text(x + 18, legend_y, word, "start", SMALL))
    width = max(left + n * cell_w + max(len(m) for m in names) * CHAR * 0.85, left + 320)
    random = " (RANDOM-INIT backbone)" if grid.random_init else ""
    label = f"cross-tuning ({grid.tuning}) of {grid.model}{random}: mMP@5 minus pre-trained mMP@5"
    return _svg(width, legend_y + 10, label, body)


def class_chart(counts: ClassCounts) -> Markup:
    """Images per class, most first: one bar per class (an area beyond 120 classes), with min / median / max."""
    values = [n for _, n in counts.counts]
    width, height, left, top, bottom = 400.0, 190.0, 46.0, 30.0, 30.0
    plot_w, plot_h = width - left - 12, height - top - bottom
    peak = max(values) or 1
    summary = (f"{counts.split}: {len(values):,} classes, {sum(values):,} images; per class min {min(values):,},"
               f" median {statistics.median(values):g}, max {max(values):,}")  # fmt: skip
    body = [_text(left, 14, _label(summary, 64), "start", SMALL)]
    for tick in (0, peak / 2, peak):
        y = top + plot_h - tick / peak * plot_h
        body.append(_line(left, y, left + plot_w, y, GRID))
        body.append(_text(left - 5, y + 4, _tick_text(tick), "end", SMALL))
    step = plot_w / len(values)
    if len(values) <= 120:
        for i, (name, n) in enumerate(counts.counts):
            h = n / peak * plot_h
            body.append(
                _rect(left + i * step, top + plot_h - h, max(step - 1, 0.5), h, ACCENT, f"{name}: {n:,} images")
            )
    else:
        points = " ".join(f"{left + i * step:.1f},{top + plot_h - n / peak * plot_h:.1f}" for i, n in enumerate(values))
        body.append(
            f'<polygon points="{left},{top + plot_h} {points} {left + plot_w},{top + plot_h}" fill="{ACCENT}"/>'
        )
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, MUTED))
    body.append(
        _text(left + plot_w / 2, height - 8, "classes, most images first", "middle", f' fill="{MUTED}" font-size="11"')
    )
    return _svg(width, height, f"images per class of {counts.dataset}, {counts.split} split", body)


def curve_chart(curve: Curve) -> Markup:
    """Training loss (solid) and held-out accuracy (dashed) per epoch of one fine-tune, on one 0..max axis."""
    width, height, left, right, top, bottom = 420.0, 240.0, 46.0, 16.0, 30.0, 40.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = curve.train_loss + [a for a in curve.val_accuracy if a is not None]
    y_hi = max(1.0, math.ceil(max(values, default=1.0) * 10) / 10)
    first, last = curve.epochs[0], curve.epochs[-1]

    def px(epoch: int) -> float:
        return left + (epoch - first) / ((last - first) or 1) * plot_w

    def py(value: float) -> float:
        return top + (1 - value / y_hi) * plot_h

    body = _plot_frame(left, top, plot_w, plot_h, _nice_ticks(0.0, y_hi, 4), py)
    for tick in sorted({first, last, *_nice_ticks(first, last, 5)}):
        if first <= tick <= last and float(tick).is_integer():
            body.append(_text(px(int(tick)), top + plot_h + 15, f"{int(tick)}", "middle"))
    body.append(_text(left + plot_w / 2, height - 6, "epoch", "middle", f' fill="{MUTED}"'))
    solid = ' stroke-width="2"'
    series = (
        ("training loss", curve.train_loss, ACCENT, solid),
        ("held-out accuracy", curve.val_accuracy, WARN, DASHED),
    )
    for name, points, colour, style in series:
        kept = [(e, v) for e, v in zip(curve.epochs, points, strict=True) if v is not None]
        if not kept:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(e):.1f},{py(v):.1f}" for i, (e, v) in enumerate(kept))
        body.append(f'<path d="{path}" fill="none" stroke="{colour}"{style}/>')
        for e, v in kept:
            tip = f"epoch {e}: {name} {v:.4f}"
            body.append(f'<circle cx="{px(e):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}">{_title(tip)}</circle>')
    body += _legend_entry(left, ACCENT, solid, "training loss") + _legend_entry(
        left + 130, WARN, DASHED, "held-out accuracy"
    )
    return _svg(width, height, f"fine-tuning curve of {curve.model} on {curve.dataset} ({curve.preset})", body)
