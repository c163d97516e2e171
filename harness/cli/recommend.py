"""``ecombench recommend``: the backbone to use for a dataset, raced on samples at a fraction of the grid's
cost; with ``--evaluate``, how well racing and the cheap signals predicted the finished grids of a database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.options import Db, Device, Workdir
from harness.cli.render import console
from harness.core.errors import HarnessError
from harness.spec.settings import DEFAULT_DB, DEFAULT_WORKDIR

#: without --budget or --fraction, racing spends at most this fraction of the full grid's device time, so that a
#: close race cannot grow to the whole split unnoticed
DEFAULT_FRACTION = 0.1
_UNITS = {"s": 1, "m": 60, "h": 3600}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_budget(text: str) -> float:
    """``2h``, ``30m``, ``90s`` or a number of seconds -> device-seconds."""
    match = _BUDGET.match(text)
    if not match or float(match[1]) <= 0:
        raise HarnessError(f"--budget {text!r}: expected a positive duration such as 2h, 30m or 90s")
    return float(match[1]) * _UNITS[match[2] or "s"]


def recommend(
    dataset: Annotated[
        str | None, typer.Option(help="the dataset to choose a backbone for, e.g. folder:/data/shoes")
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="comma-separated model ids and @collections, e.g. @paper or pixels:8,wheel:tf_efficientnet_lite0"
        ),
    ] = None,
    strategies: Annotated[
        str, typer.Option(help="pretrained, or pretrained,toptuned to also measure the top-tune gain of the leaders")
    ] = "pretrained",
    budget: Annotated[str | None, typer.Option(help="device time to spend at most: 2h, 30m, 90s")] = None,
    fraction: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="or: this fraction of the full grid's device time (the dry run's estimate; --evaluate: the grid's);"
            f" {DEFAULT_FRACTION} unless --budget is given",
        ),
    ] = None,
    first_per_class: Annotated[int, typer.Option(min=2, help="images per class in the first sample")] = 5,
    growth: Annotated[float, typer.Option(min=1.01, help="how much the sample grows per stage")] = 2.0,
    tune_preset: Annotated[
        str, typer.Option(help="top-tuning preset of the tuning check (harness/presets/toptune.toml)")
    ] = "smoke",
    evaluate: Annotated[
        bool,
        typer.Option("--evaluate", help="replay racing and every signal on each finished grid in --db and score them"),
    ] = False,
    out: Annotated[Path, typer.Option(help="the Markdown report section written")] = Path("reports/out/recommend.md"),
    db: Db = DEFAULT_DB,
    workdir: Workdir = DEFAULT_WORKDIR,
    device: Device = "cpu",
    seed: Annotated[int, typer.Option(min=0, help="seed of the stratified samples")] = 0,
) -> None:
    """Recommend a backbone (and whether top-tuning pays) by racing the candidates on class-stratified samples,
    with cheap signals beside it; --evaluate scores these shortcuts against the finished grids in the database."""
    from harness.compute.selection.racing import RaceConfig
    from harness.plan.grid import expand_models
    from harness.report.recommend import write_recommend
    from harness.spec.settings import Extraction, Settings
    from harness.workflows import recommend as workflow

    if budget is not None and fraction is not None:
        raise HarnessError("give --budget or --fraction, not both")
    if budget is None and fraction is None:
        fraction = DEFAULT_FRACTION
    config = RaceConfig(first_per_class=first_per_class, growth=growth, seed=seed,
                        budget_s=parse_budget(budget) if budget else None)  # fmt: skip
    if evaluate:
        replays = workflow.evaluate(db, workdir, config, DEFAULT_FRACTION if fraction is None else fraction)
        _print_replays(replays)
        console.print(f"report section written to {write_recommend(out, replays=replays)}")
        return
    if dataset is None or models is None:
        raise HarnessError("recommend needs --dataset and --models (or --evaluate)")
    chosen = [s.strip() for s in strategies.split(",") if s.strip()]
    unknown = sorted(set(chosen) - {"pretrained", "toptuned"})
    if unknown:
        raise HarnessError(f"--strategies: unknown {', '.join(unknown)} (recommend knows pretrained, toptuned)")
    settings = Settings(workdir=workdir, db=db, extraction=Extraction(device=device))
    ids = expand_models([m.strip() for m in models.split(",") if m.strip()], {})
    rec = workflow.recommend(ids, dataset, settings, config, fraction,
                             tune_preset=tune_preset if "toptuned" in chosen else None)  # fmt: skip
    _print_recommendation(rec)
    console.print(f"report section written to {write_recommend(out, rec)}")


def _print_recommendation(rec) -> None:  # type: ignore[no-untyped-def]
    from harness.report.numbers import duration, number

    race = rec.race
    head = {
        "winner": "recommended",
        "tied": "tied (not separable on the whole split)",
        "budget": "budget spent; leading",
    }
    low, high = race.interval
    console.print(
        f"[bold]{head[race.outcome]}:[/] {escape(race.leader)}  mMP@5 {number(race.means[race.leader]['mmp_at_5'])} "
        f"[{number(low)}, {number(high)}] on the sample",
        highlight=False,
    )
    if len(race.survivors) > 1:
        console.print(f"could not be separated from: {escape(', '.join(race.survivors[1:]))}", highlight=False)
    table = Table("stage", "per class", "candidate", "mMP@5", "p (Holm)", "verdict", title="trace")
    for stage in race.stages:
        for s in stage.standings:
            table.add_row(str(stage.index), str(stage.per_class), escape(s.candidate), number(s.mean),
                          number(s.p_holm), s.verdict)  # fmt: skip
    console.print(table)
    signals = Table(
        "candidate", "k-NN acc", "LogME", "H-score", "shrunk H", title=f"signals ({rec.signal_sample} images)"
    )
    for candidate, v in rec.signals.items():
        signals.add_row(escape(candidate), number(v["knn_accuracy"]), number(v["logme"]), number(v["hscore"]),
                        number(v["hscore_shrunk"]))  # fmt: skip
    console.print(signals)
    for t in rec.tuning:
        console.print(f"top-tune gain of {escape(t.candidate)}: {number(t.gain)} [{number(t.low)}, {number(t.high)}] "
                      f"mMP@5 for {t.seconds:.1f} device-seconds ({number(t.gain_per_device_hour, 3)} per device-hour)",
                      highlight=False)  # fmt: skip
    for p in rec.finetune:
        if p.predicted is None:
            console.print(f"fine-tune gain of {escape(p.candidate)}: no data to predict (the database has no top-tuned"
                          " and fine-tuned cells of this model on another dataset)", highlight=False)  # fmt: skip
        else:
            console.print(f"fine-tune gain of {escape(p.candidate)} predicted: {number(p.predicted)} mMP@5 "
                          f"(ratio {number(p.ratio, 3)} over {p.pairs} datasets of the grid; "
                          f"{number(p.gain_per_device_hour, 3)} per device-hour)", highlight=False)  # fmt: skip
    share = "" if rec.fraction is None else f" ({100 * rec.fraction:.1f} % of it)"
    console.print(f"spent {duration(race.seconds)}, {race.images} images; the full grid: "
                  f"{duration(rec.grid_estimate_s)}, {rec.grid_images} images{share}", highlight=False)  # fmt: skip


def _print_replays(replays) -> None:  # type: ignore[no-untyped-def]
    from harness.report.numbers import number, share

    table = Table("dataset", "method", "tau", "weighted tau", "regret", "choice", "device time",
                  title="How well the shortcuts predicted this grid")  # fmt: skip
    for replay in replays:
        for s in replay.scores:
            table.add_row(escape(replay.dataset), s.method, number(s.tau, 3), number(s.weighted_tau, 3),
                          number(s.regret), escape(s.choice), share(s.fraction))  # fmt: skip
    console.print(table)
