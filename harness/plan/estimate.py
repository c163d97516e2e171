"""Before a GPU-hour is spent: each cell's estimated device time, the totals, their price and the disk needed.

Work that cells share is counted once, by the first cell (in plan order) that needs it: a fine-tune, a
top-tune search, and the extraction of one backbone's embeddings of one dataset (the embedding cache is
shared by every cell of that backbone and dataset). Times per image come from the results database where
it has a measurement for the same model and kind of device (the cost suite's pipeline throughput,
fine-tuning's images/s: "measured"), else from the model's FLOPs and the device's rate in
harness/presets/estimates.toml ("flops"). Images per dataset: the prepared manifest's counts, else the
dataset's listing (annotation files only, no image is read), else the publisher's figures.
"""

from __future__ import annotations

import fnmatch
import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compute.cost.prices import load_prices, rate_for
from harness.compute.suites import get_suite
from harness.core.errors import HarnessError
from harness.core.resources import preset_file
from harness.core.tomlfile import read_toml
from harness.plan.plan import Plan
from harness.spec.cells import CellSpec
from harness.spec.strategies import get_strategy

ESTIMATES = preset_file("estimates.toml")
BYTES_FP32 = 4


@dataclass(frozen=True)
class Rates:
    name: str
    infer_tflops: float
    train_tflops: float
    decode_img_s: float
    source: str
    load_s: float = 0.0  # fixed costs: loading a model onto the device, once per model
    warmup_s: float = 0.0  # its first batches, once per model
    prepare_s: float = 0.0  # per cell: manifest, index, shard
    fixed_source: str = ""


@dataclass(frozen=True)
class Images:
    train: int
    test: int
    basis: str  # "prepared", "listed" or "published"

    @property
    def total(self) -> int:
        return self.train + self.test


@dataclass
class Estimate:
    device: str
    rates: Rates
    usd_per_hour: float | None
    seconds: dict[str, float] = field(default_factory=dict)  # cell key -> device seconds it adds
    basis: dict[str, str] = field(default_factory=dict)  # cell key -> measured / flops / done
    embedding_bytes: int = 0
    checkpoint_bytes: int = 0
    images: dict[str, Images] = field(default_factory=dict)
    guessed_models: set[str] = field(default_factory=set)
    fixed_s: float = 0.0  # the part of total_s that is fixed costs (load, warm-up, preparation)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def wall_s(self, devices: int) -> float:
        """Wall time on ``devices`` devices: the work spread evenly, never below the longest cell."""
        return max(self.total_s / devices, max(self.seconds.values(), default=0.0))

    @property
    def price_usd(self) -> float | None:
        return None if self.usd_per_hour is None else self.total_s / 3600 * self.usd_per_hour


@functools.cache
def _table() -> dict[str, Any]:
    return read_toml(ESTIMATES, "estimate table")


def _first(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((e for e in entries if fnmatch.fnmatchcase(name.lower(), str(e["match"]).lower())), None)


def device_rates(name: str) -> Rates:
    entry = _first(_table()["device"], name)
    if entry is None:
        known = ", ".join(str(e["match"]) for e in _table()["device"])
        raise HarnessError(f"no device rate for '{name}' in {ESTIMATES} (known: {known}): add a [[device]] entry")
    fixed = _table()["fixed"]
    costs = {k: float(entry.get(k, fixed[k])) for k in ("load_s", "warmup_s", "prepare_s")}
    return Rates(name, float(entry["infer_tflops"]), float(entry["train_tflops"]), float(entry["decode_img_s"]),
                 str(entry["source"]), **costs,
                 fixed_source=str(entry.get("fixed_source", "the [fixed] defaults")))  # fmt: skip


def model_figures(model_id: str) -> dict[str, Any]:
    entry = _first(_table()["model"], model_id)
    assert entry is not None, "estimates.toml ends with a match-all model entry"
    return entry


def dataset_images(dataset_id: str, workdir: Path) -> Images:
    """Images per split, as cheaply as they can be known (see the module docstring)."""
    from harness.compute.datasets import resolve_dataset
    from harness.compute.datasets.files import FileDataset, Notes

    dataset = resolve_dataset(dataset_id, workdir)
    if not isinstance(dataset, FileDataset):  # generated from its id: the manifest is cheap
        generated = Counter(item.split for item in dataset.manifest().items)
        return Images(generated["train"], generated["test"], "listed")
    report = dataset.store.report(dataset) if dataset.store is not None else None
    if report is not None:
        counts = {row["split"]: int(row["images"]) for row in report["splits"]}
        return Images(counts.get("train", 0), counts.get("test", 0), "prepared")
    try:
        present = all(size >= 0 for _, size, _ in dataset.fingerprint())
        splits: Counter[str | None] = Counter(e.split for e in dataset.entries(Notes())) if present else Counter()
    except HarnessError:  # not there (yet): the publisher's figures
        splits = Counter()
    if splits:
        unsplit = splits.pop(None, 0)
        if unsplit:
            fraction = dataset.stratify()[0]
            splits["test"] += round(unsplit * fraction)
            splits["train"] += unsplit - round(unsplit * fraction)
        return Images(splits["train"], splits["test"], "listed")
    published = _table()["images"].get(dataset_id.partition(":")[0].partition("[")[0])
    if published is None:
        raise HarnessError(f"dataset '{dataset_id}': its folder is not there and {ESTIMATES} has no size for it")
    return Images(int(published["train"]), int(published["test"]), "published")


def measured(db: Path, device: str) -> dict[tuple[str, str], float]:
    """(model, metric) -> the median measured value on this kind of device, from the cost ledger."""
    if not db.exists():
        return {}
    from harness.storage.store import connect

    con = connect(db, read_only=True)
    try:
        where = "device = 'cpu'" if device == "cpu" else "device LIKE 'cuda%' AND lower(gpu) LIKE ?"
        args = [] if device == "cpu" else [f"%{device.lower()}%"]
        rows = con.execute(
            "SELECT model, metric, median(value) FROM cost_ledger WHERE metric IN "
            f"('throughput_pipeline_img_s', 'finetune_images_per_s') AND value > 0 AND {where} GROUP BY ALL",
            args,
        ).fetchall()
    finally:
        con.close()
    return {(str(model), str(metric)): float(value) for model, metric, value in rows}


def _lastk_passes(rung: dict[str, Any], ladder: dict[str, Any]) -> tuple[float, float]:
    blocks = int(ladder["lastk_blocks"])
    return 1.0 + (float(ladder["full"]) - 1.0) * min(int(rung["k"]), blocks) / blocks, 0.0


#: a fine-tune variant's method -> (forward-pass equivalents per training image and epoch, forward-pass
#: equivalents per image of its probe phase in all), from estimates.toml's [ladder] table; "" is full fine-tuning
RUNG_PASSES: dict[str, Callable[[dict[str, Any], dict[str, Any]], tuple[float, float]]] = {
    "": lambda rung, ladder: (float(ladder["full"]), 0.0),
    "lastk": _lastk_passes,
    "lora": lambda rung, ladder: (float(ladder["lora"]), 0.0),
    "lpft": lambda rung, ladder: (float(ladder["full"]), int(rung["probe_epochs"]) * float(ladder["probe"])),
}


def rung_passes(adaptation: dict[str, Any], ladder: dict[str, Any]) -> tuple[float, float]:
    return RUNG_PASSES[str(adaptation.get("method", ""))](adaptation, ladder)


def estimate_plan(plan: Plan, device: str, workdir: Path, db: Path, prices: Path | None = None) -> Estimate:
    """Each cell's device seconds on ``device`` (a GPU name such as "H100", or "cpu"), shared work once."""
    from harness.compute.finetune.recipe import load_recipe
    from harness.compute.toptune.presets import load_preset

    rates = device_rates(device)
    table = _table()
    fixed = table["fixed"]
    ledger = measured(db, device)
    estimate = Estimate(device, rates, rate_for(device, load_prices(prices)))
    extracted: set[tuple[str, str]] = set()
    trained: set[str] = set()
    loaded: set[str] = set()  # models whose load and warm-up are already counted

    def images(dataset_id: str) -> Images:
        if dataset_id not in estimate.images:
            estimate.images[dataset_id] = dataset_images(dataset_id, workdir)
        return estimate.images[dataset_id]

    def per_image(model: str, metric: str, flops_factor: float, tflops: float, side: int = 0) -> tuple[float, str]:
        """Seconds per image: measured, or from FLOPs (``side``: the training resolution, 0 the model's own)."""
        if (model, metric) in ledger:
            return 1.0 / ledger[model, metric], "measured"
        figures = model_figures(model)
        if figures["match"] == "*":
            estimate.guessed_models.add(model)
        scale = (side / float(figures.get("size", 224))) ** 2 if side else 1.0
        flops_s = flops_factor * scale * float(figures["gflops"]) * 1e9 / (tflops * 1e12)
        return max(flops_s, 1.0 / rates.decode_img_s), "flops"

    def extract(spec: CellSpec, backbone: str, dataset_id: str) -> tuple[float, str]:
        if (backbone, dataset_id) in extracted:
            return 0.0, ""
        extracted.add((backbone, dataset_id))
        count = images(dataset_id).total
        estimate.embedding_bytes += count * int(model_figures(spec.cell.model)["dim"]) * BYTES_FP32
        seconds, basis = per_image(spec.cell.model, "throughput_pipeline_img_s", 1.0, rates.infer_tflops)
        return count * seconds, basis

    for planned in plan.cells:
        spec, cell = planned.spec, planned.spec.cell
        key = spec.key
        if planned.status == "done":
            estimate.seconds[key], estimate.basis[key] = 0.0, "done"
            continue
        # fixed costs: preparation per cell (the cost suite's own passes too), a model's load and warm-up once
        suite = get_suite(cell.suite)
        fixed_s = rates.prepare_s + (float(fixed["cost_cell_s"]) if suite.measures_machine else 0.0)
        if cell.model not in loaded:
            loaded.add(cell.model)
            fixed_s += rates.load_s + rates.warmup_s
        estimate.fixed_s += fixed_s
        seconds = fixed_s
        bases: set[str] = set()
        backbone = cell.model
        trained_on = get_strategy(cell.strategy).trained_on(cell.dataset, cell.params)
        for job in spec.subjobs:
            if job.kind == "finetune":
                backbone = job.key
                if job.key in trained or plan.job_status.get(job.key) == "done":
                    continue
                trained.add(job.key)
                recipe = load_recipe(str(cell.params["finetune_preset"]))
                full = float(table["ladder"]["full"])
                s, basis = per_image(cell.model, "finetune_images_per_s", full, rates.train_tflops, recipe.img_size)
                passes, probe = rung_passes(get_strategy(cell.strategy).adaptation_of(cell.params), table["ladder"])
                seconds += (recipe.epochs * passes + probe) / full * images(trained_on).train * s
                bases.add(basis)
                weights = float(model_figures(cell.model)["params_m"]) * 1e6 * BYTES_FP32
                estimate.checkpoint_bytes += int(weights * (1 + 3 * recipe.keep_checkpoints))  # + optimizer moments
            elif job.kind == "toptune":
                toptuned = get_strategy(cell.strategy).tuning_of(cell.params) == "toptuned"
                head_on = trained_on if toptuned else cell.dataset  # as harness.plan.identity.subjobs
                s, basis = extract(spec, backbone, head_on)
                seconds += s
                bases.add(basis)
                if job.key in trained or plan.job_status.get(job.key) == "done":
                    continue
                trained.add(job.key)
                preset = load_preset(str(cell.params["preset"]))
                epochs = preset.max_trials * preset.executions_per_trial * preset.epochs + min(
                    preset.final_epochs, int(fixed["head_final_epochs"])
                )
                seconds += epochs * images(head_on).train / 1e5 * float(fixed["head_epoch_s_per_100k"])
        if suite.extracts:
            s, basis = extract(spec, backbone, cell.dataset)
            seconds += s
            bases.add(basis)
        estimate.seconds[key] = seconds
        bases.discard("")
        estimate.basis[key] = "measured" if bases == {"measured"} else "flops" if bases else "shared"
    return estimate
