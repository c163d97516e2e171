"""A cell's identity, computed without loading a model or building a manifest.

The key (the run_id) covers: the canonical ids and parameters of the cell; the cheap fingerprints of the
model's weight files and of the dataset's annotation files (path, size, mtime); the contents of the data the
parameters name (top-tuning preset, fine-tuning recipe, price table), hashed in rather than copied into the
parameters; the sub-jobs it consumes; the harness version; and the execution context that changes the
numbers: the device kind (an embedding computed on a GPU is not the CPU's), the forward precision and memory
format where they are not the defaults (fp32, contiguous), and for the cost suite the GPU or CPU model.
Execution-only knobs (workers, batch size, number of processes) stay out.

What was actually loaded (the weights' tensor digest, the manifest's content digest) is recorded in the
run's shard, so a reader can still check that two runs saw the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness.compute.suites import get_suite
from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.spec.cells import Cell, CellSpec, SubJob
from harness.spec.strategies import get_strategy

#: parameters that change how a cell runs but not its numbers (the fine-tune's global batch is the recipe's)
EXECUTION_ONLY = ("gpus",)


def device_kind(device: str) -> str:
    return device.partition(":")[0]


def hardware(device: str) -> str:
    """The GPU's name on CUDA (torch is imported), else the CPU model: what a cost figure was measured on."""
    if device_kind(device) == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise HarnessError(f"--device {device}: this machine has no CUDA device")
        return str(torch.cuda.get_device_name(torch.device(device)))
    from harness.core.provenance import cpu_model

    return cpu_model()


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise HarnessError(f"cannot read '{path}': {exc.strerror}") from exc


@dataclass
class Identities:
    """Fingerprints memoised for one plan (a grid names each model and dataset many times)."""

    device: str
    #: the extraction settings that change the numbers, where not the defaults
    #: (harness.spec.settings.numeric_settings)
    extraction: dict[str, Any] = field(default_factory=dict)
    _models: dict[str, dict[str, Any]] = field(default_factory=dict)
    _datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    _data: dict[str, Any] = field(default_factory=dict)
    _hardware: str | None = None

    def model(self, model_id: str) -> dict[str, Any]:
        if model_id not in self._models:
            from harness.compute.models import model_fingerprint

            self._models[model_id] = {"id": model_id, **model_fingerprint(model_id)}
        return self._models[model_id]

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        if dataset_id not in self._datasets:
            from harness.compute.datasets import resolve_dataset

            self._datasets[dataset_id] = {"id": dataset_id, "files": resolve_dataset(dataset_id).fingerprint()}
        return self._datasets[dataset_id]

    def preset(self, name: str) -> dict[str, Any]:
        from harness.compute.toptune.presets import HEAD_FORMAT, load_preset

        return self._memo(f"preset:{name}", lambda: {**load_preset(name).as_dict(), "format": HEAD_FORMAT})

    def recipe(self, name: str) -> dict[str, Any]:
        from harness.compute.finetune.recipe import LOOP_FORMAT, load_recipe

        return self._memo(f"recipe:{name}", lambda: {**load_recipe(name).as_dict(), "format": LOOP_FORMAT})

    def templates(self, value: str) -> list[str]:
        from harness.compute.text.templates import resolve_templates

        return self._memo(f"templates:{value}", lambda: list(resolve_templates(value)))

    def file(self, path: str) -> str:
        """sha256 of a data file a parameter names (a text suite's judgements)."""
        return self._memo(f"file:{path}", lambda: _file_digest(Path(path)))

    def prices(self, path: str) -> str:
        from harness.compute.cost.prices import DEFAULT_PRICES

        return self._memo(f"prices:{path}", lambda: _file_digest(Path(path) if path else DEFAULT_PRICES))

    def hardware(self) -> str:
        if self._hardware is None:
            self._hardware = hardware(self.device)
        return self._hardware

    def _memo(self, key: str, make: Any) -> Any:
        if key not in self._data:
            self._data[key] = make()
        return self._data[key]


def subjobs(cell: Cell, ids: Identities) -> tuple[SubJob, ...]:
    """The fine-tune and top-tune search a cell consumes, keyed by what determines their result."""
    strategy = get_strategy(cell.strategy)
    params = cell.params
    tuning = strategy.tuning_of(params)
    trained_on = strategy.trained_on(cell.dataset, params)
    trains = get_suite(cell.suite).trains
    kind = device_kind(ids.device)
    jobs: list[SubJob] = []
    backbone: Any = ids.model(cell.model)
    if tuning == "finetuned" or "finetune" in trains:
        from harness.compute.finetune.spec import key_fields

        recipe = params["finetune_preset"]
        # a ladder rung's variant (harness.spec.strategies); full fine-tuning (and wiseft, which blends its
        # weights) adds nothing, so their jobs are one and their keys are those made before rungs existed
        adaptation = strategy.adaptation_of(params)
        key = content_key(
            {"model": backbone, "dataset": ids.dataset(trained_on), "recipe": ids.recipe(recipe),
             "seed": params["seed"], "device": kind, **key_fields(cell.model),
             **({"adaptation": adaptation} if adaptation else {})}
        )  # fmt: skip
        rung = "".join(f" {k}={v}" for k, v in adaptation.items() if k != "method" and v != "")
        what = f"{adaptation['method']}{rung} fine-tune" if adaptation else "fine-tune"
        jobs.append(SubJob("finetune", key, f"{what} of {cell.model} on {trained_on} ({recipe})"))
        backbone = {"finetune": key}
    head_on = trained_on if tuning == "toptuned" else cell.dataset if "toptune" in trains else None
    if head_on is not None:
        from harness.compute.toptune import DEFAULT_BACKEND, keras_backend

        preset = params["preset"]
        backend = keras_backend()  # the default stays out of the key: torch heads keep their keys
        key = content_key(
            {"backbone": backbone, "dataset": ids.dataset(head_on), "preset": ids.preset(preset),
             "seed": params["seed"], "device": kind, **ids.extraction,
             **({"keras_backend": backend} if backend != DEFAULT_BACKEND else {})}
        )  # fmt: skip
        jobs.append(SubJob("toptune", key, f"top-tune search on {cell.model} / {head_on} ({preset})"))
    return tuple(jobs)


def plan_cell(cell: Cell, ids: Identities) -> CellSpec:
    """The cell's spec: key, context and sub-jobs, from fingerprints only."""
    # precision and memory format only where not the defaults: every cell key made before them is unchanged
    context: dict[str, Any] = {"device": device_kind(ids.device), **ids.extraction}
    suite = get_suite(cell.suite)
    if "precision" in ids.extraction and suite.own_precision:
        raise HarnessError(
            f"the {cell.suite} suite sets its forward precision with its own forward_precision parameter "
            f"(cell {cell.model} / {cell.dataset}): leave out --precision and grid.precision"
        )
    if suite.measures_machine:
        context["hardware"] = ids.hardware()
    jobs = subjobs(cell, ids)
    trained_on = get_strategy(cell.strategy).trained_on(cell.dataset, cell.params)
    fields = {
        "cell": {**asdict(cell), "params": {k: v for k, v in cell.params.items() if k not in EXECUTION_ONLY}},
        "model": ids.model(cell.model),
        "dataset": ids.dataset(cell.dataset),
        "trained_on": ids.dataset(trained_on),
        "prices": ids.prices(str(cell.params.get("prices", ""))),
        "presets": {
            **({"preset": ids.preset(cell.params["preset"])} if "preset" in cell.params else {}),
            **({"recipe": ids.recipe(cell.params["finetune_preset"])} if "finetune_preset" in cell.params else {}),
            **({"templates": ids.templates(cell.params["templates"])} if "templates" in cell.params else {}),
            **({"qrels": ids.file(cell.params["qrels"])} if cell.params.get("qrels") else {}),
        },
        "subjobs": [job.key for job in jobs],
        "context": context,
        "harness_version": harness.__version__,
    }
    return CellSpec(cell, content_key(fields), context, jobs)
