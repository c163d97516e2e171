"""The dry run rendered for a terminal: each model's weights, each dataset's folder and preparation, each cell's
status and estimated device time, and the totals (device-hours, price, wall time on N devices, disk). What it
shows is computed by harness.plan.dryrun."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.plan.dryrun import DryRun
from harness.plan.estimate import Estimate
from harness.plan.ladder import break_even

COLOUR = {"done": "green", "pending": "yellow", "failed": "red", "stale": "magenta", "blocked": "red"}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.2f} h" if seconds >= 360 else f"{seconds:,.0f} s"


def show(run: DryRun, spec: Path, console: Console, devices: int, cells: bool = True) -> None:
    est = run.estimate
    models = Table(title="models: weights")
    for column in ("model", "weights", "note"):
        models.add_column(column, overflow="fold")
    for m in run.models:
        models.add_row(escape(m.id), "[green]present[/]" if m.present else "[red]missing[/]", escape(m.note))
    console.print(models)
    if any(not m.present for m in run.models):
        console.print(f"fetch the missing weights: ecombench weights fetch {escape(str(spec))}", highlight=False)
    datasets = Table(title="datasets")
    for column in ("dataset", "root", "layout", "prepared", "images (train/test)"):
        datasets.add_column(column, overflow="fold")
    for d in run.datasets:
        images = est.images.get(d.id)
        count = f"{images.train:,} / {images.test:,} ({images.basis})" if images else "—"
        root = "generated" if not d.root else "[green]found[/]" if d.root_found else "[red]not found[/]"
        layout = "[green]valid[/]" if d.layout_ok else f"[red]missing[/] {escape(', '.join(d.missing))}"
        datasets.add_row(escape(d.id), root, layout, "yes" if d.prepared else "no", count)
    console.print(datasets)
    for d in run.datasets:
        if not d.ready and d.source:
            console.print(f"get {escape(d.id)}: {escape(d.source)}", highlight=False, soft_wrap=True)
    if run.grid.data:
        folders = ", ".join(f"{k} = {v}" for k, v in run.grid.data.items())
        console.print(f"data folders: {escape(folders)}", highlight=False, soft_wrap=True)
    if cells:
        table = Table(title=f"plan of {escape(str(spec))} (cheapest first)")
        for column in ("run_id", "model", "dataset", "strategy", "suite", "status", "est. device time"):
            table.add_column(column, overflow="fold")
        for planned in run.plan.cells:
            c, key = planned.spec.cell, planned.spec.key
            status = "blocked" if planned.status != "done" and run.blocked(planned) else planned.status
            shown = f"{hours(est.seconds[key])} ({est.basis[key]})" if status != "done" else "—"
            table.add_row(*map(escape, (key[:12], c.model, c.dataset, c.strategy, c.suite)),
                          f"[{COLOUR[status]}]{status}[/]", shown)  # fmt: skip
        console.print(table)
    for line in break_even(run.plan, est):  # the adaptation ladder's policy, where the grid has its rungs
        console.print(escape(line), highlight=False, soft_wrap=True)
    for skipped in run.plan.skipped:
        console.print(f"skipped: suite {skipped.suite} x strategy {skipped.strategy}: {escape(skipped.reason)}")
    counts = run.plan.counts()
    blocked = sum(p.status != "done" and run.blocked(p) for p in run.plan.cells)
    tail = f", {blocked} blocked by missing weights or data)" if blocked else ")"
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({len(run.plan.cells)} cells{tail}"
    console.print(summary, highlight=False)
    show_totals(est, console, devices)


def show_totals(est: Estimate, console: Console, devices: int) -> None:
    bases = Counter(b for b in est.basis.values() if b != "done")
    rate = est.rates
    console.print(
        f"estimate for {escape(est.device)}: {est.total_s / 3600:,.1f} device-hours"
        + (f", {est.price_usd:,.2f} USD at {est.usd_per_hour:.2f} USD/h (price table)" if est.price_usd is not None
           else " (the price table has no rate for this device)")
        + f"; wall time on {devices} device(s): {hours(est.wall_s(devices))}",
        highlight=False,
    )  # fmt: skip
    if devices != 4:
        console.print(f"  on 4 devices: {hours(est.wall_s(4))} wall", highlight=False)
    console.print(
        f"  disk: {est.embedding_bytes / 1e9:,.2f} GB of embeddings (fp32), {est.checkpoint_bytes / 1e9:,.2f} GB of "
        "fine-tuning checkpoints", highlight=False,
    )  # fmt: skip
    console.print(
        f"  based on: {bases.get('measured', 0)} cells from measured throughput (cost ledger), "
        f"{bases.get('flops', 0)} from FLOPs per image and the device rate, {bases.get('shared', 0)} whose "
        "passes over images earlier cells already count (fixed costs only); "
        f"rate {rate.infer_tflops:g} TFLOP/s inference, {rate.train_tflops:g} training, decode ceiling "
        f"{rate.decode_img_s:,.0f} img/s ({escape(rate.source)}; harness/presets/estimates.toml)",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    console.print(
        f"  fixed costs: {est.fixed_s / 3600:,.2f} of those device-hours: model load {rate.load_s:g} s and warm-up "
        f"{rate.warmup_s:g} s once per model, preparation {rate.prepare_s:g} s per cell "
        f"({escape(rate.fixed_source)})", highlight=False, soft_wrap=True,
    )  # fmt: skip
    if est.guessed_models:
        console.print(f"  no FLOPs figures for {', '.join(sorted(est.guessed_models))}: a ViT-B-sized guess")
