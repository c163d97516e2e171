"""The tuning strategies, as a registry: which backbone and which head a cell's embeddings come from.

    pretrained   the backbone as loaded. In the classification suite, whose metrics need a classifier,
                 it means a top-tuned head on the frozen pre-trained embeddings (the paper's baseline).
    toptuned     an MLP head top-tuned on the evaluated dataset's training split; the retrieval embedding is
                 the head's last hidden layer
    finetuned    the whole backbone fine-tuned on the evaluated dataset's training split (harness.compute.finetune)
    crosstuned   tuned (``tuning`` = finetuned or toptuned) on the ``source`` dataset's training split and
                 evaluated on another dataset: the paper's transfer experiment

The adaptation ladder's rungs between top-tuning and full fine-tuning (docs/ladder.md). Each is a variant of
the fine-tune sub-job (its ``adaptation`` record, harness.compute.finetune.adapt) or, for ``wiseft``, a view of
the plain fine-tune's weights; each takes an optional ``source`` (tuned there, evaluated here, as crosstuned):

    lastk        only the last ``k`` blocks (timm's coarse groups: stages of a CNN, blocks of a ViT) and the
                 head train; the rest is frozen, its batch-norm statistics too (eval mode)
    lora         low-rank adapters (peft) of ``rank`` and ``lora_alpha`` on ``lora_targets`` (default per
                 architecture); merged into the backbone when the training ends
    lpft         a linear-probe phase of ``probe_epochs`` (backbone frozen) then full fine-tuning from the
                 probed head
    wiseft       (1 - alpha) x pre-trained + alpha x fine-tuned weights of the plain fine-tune job; no
                 training of its own (an ``alpha`` list in a suite file sweeps it)

Each strategy declares the parameters it adds to a cell, the parameter a grid pairs with each of its datasets
(cross-tuning's ``source``), and so which sub-jobs (a fine-tune, a top-tune search) its cells consume. A suite
declares the strategies it accepts (``STRATEGIES``). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import HarnessError

TOPTUNE: dict[str, Any] = {"preset": "quick", "seed": 0}
FINETUNE: dict[str, Any] = {"finetune_preset": "quick", "seed": 0}
TUNINGS = ("finetuned", "toptuned")
#: a ladder rung's optional source dataset: tuned there, evaluated on the cell's dataset ("" = the same)
SOURCE: dict[str, Any] = {"source": ""}


@dataclass(frozen=True)
class Strategy:
    """Attributes:
    name: as written in suite files, ids and the database.
    description: one line for listings.
    defaults: the parameters the strategy adds to a cell of any suite.
    tuning: the tuning it applies (None: the loaded backbone; "param": read from the cell's ``tuning``).
    paired: the parameter a grid fills with each of its datasets in turn, when the grid gives none.
    adapts: the parameters of a fine-tune variant (a ladder rung): they go into the fine-tune job's
        ``adaptation`` record (and key) with the strategy's name as its method.
    interpolates: the parameter that blends the fine-tune's weights with the pre-trained ones (WiSE-FT).
    bounds: parameter -> (lowest, highest) accepted value.
    sweeps: parameters a suite file may give as lists (one cell per value), like a suite's own sweeps.
    """

    name: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    tuning: str | None = None
    paired: str | None = None
    adapts: tuple[str, ...] = ()
    interpolates: str | None = None
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    sweeps: tuple[str, ...] = ()

    def tuning_of(self, params: dict[str, Any]) -> str | None:
        return str(params["tuning"]) if self.tuning == "param" else self.tuning

    def trained_on(self, dataset: str, params: dict[str, Any]) -> str:
        """The dataset whose training split the tuning sees (a rung's optional ``source``, else this one)."""
        if self.paired:
            return str(params[self.paired])
        return str(params.get("source") or dataset)

    def adaptation_of(self, params: dict[str, Any]) -> dict[str, Any]:
        """The fine-tune variant a cell trains: {} for full fine-tuning (whose job keys stay as they were)."""
        return {"method": self.name, **{name: params[name] for name in self.adapts}} if self.adapts else {}

    def normalise(self, params: dict[str, Any], dataset_id: Callable[[str], str]) -> dict[str, Any]:
        """Check the strategy's own parameters; keep only the preset of the tuning actually used.
        ``dataset_id`` turns a dataset as written into its canonical id (the dataset registry's; spec loads none)."""
        for name, (low, high) in self.bounds.items():
            if not low <= params[name] <= high:
                raise HarnessError(
                    f"strategy {self.name}: parameter {name}={params[name]} must be in [{low:g}, {high:g}]"
                )
        if self.tuning != "param":
            if params.get("source"):
                return {**params, "source": dataset_id(str(params["source"]))}
            return params
        params = dict(params)
        if params["tuning"] not in TUNINGS:
            raise HarnessError(f"tuning={params['tuning']}: expected one of {', '.join(TUNINGS)}")
        if not params["source"]:
            raise HarnessError(f"strategy {self.name} needs a source dataset: --param source=DATASET")
        params["source"] = dataset_id(str(params["source"]))
        params.pop("preset" if params["tuning"] == "finetuned" else "finetune_preset")
        return params


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("pretrained", "the backbone as loaded (classification: a top-tuned head on its frozen embeddings)"),
        Strategy("toptuned", "an MLP head top-tuned on the dataset's training split", TOPTUNE, "toptuned"),
        Strategy("finetuned", "the backbone fine-tuned on the dataset's training split", FINETUNE, "finetuned"),
        Strategy(
            "crosstuned",
            "tuned (tuning=finetuned|toptuned) on the source dataset, evaluated on this one",
            {"source": "", "tuning": "finetuned", **TOPTUNE, **FINETUNE},
            tuning="param",
            paired="source",
        ),
        Strategy(
            "lastk",
            "only the last k blocks and the head fine-tuned (frozen parts keep their batch-norm statistics)",
            {"k": 1, **FINETUNE, **SOURCE},
            "finetuned",
            adapts=("k",),
            bounds={"k": (0, 10_000)},
            sweeps=("k",),
        ),
        Strategy(
            "lora",
            "low-rank adapters (peft) of rank `rank` trained with the head, then merged into the backbone",
            {"rank": 8, "lora_alpha": 16, "lora_targets": "", **FINETUNE, **SOURCE},
            "finetuned",
            adapts=("rank", "lora_alpha", "lora_targets"),
            bounds={"rank": (1, 4096), "lora_alpha": (1, 1_000_000)},
            sweeps=("rank",),
        ),
        Strategy(
            "lpft",
            "a linear probe (backbone frozen) for probe_epochs, then full fine-tuning from the probed head",
            {"probe_epochs": 1, **FINETUNE, **SOURCE},
            "finetuned",
            adapts=("probe_epochs",),
            bounds={"probe_epochs": (1, 10_000)},
        ),
        Strategy(
            "wiseft",
            "WiSE-FT: (1 - alpha) x pre-trained + alpha x fine-tuned weights of the plain fine-tune",
            {"alpha": 0.5, **FINETUNE, **SOURCE},
            "finetuned",
            interpolates="alpha",
            bounds={"alpha": (0.0, 1.0)},
            sweeps=("alpha",),
        ),
    )
}

#: the strategies between top-tuning and full fine-tuning (suites accept them where they accept ``finetuned``)
LADDER_RUNGS = ("lastk", "lora", "lpft", "wiseft")
#: the adaptive ``ladder`` policy's rungs, cheapest first (harness.plan.ladder)
LADDER = ("pretrained", "toptuned", "lastk", "lora", "finetuned")


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise HarnessError(f"unknown strategy '{name}' (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]
