"""The tuning strategies, as a registry: which backbone and which head a cell's embeddings come from.

    pretrained   the backbone as loaded. In the classification suite, whose metrics need a classifier,
                 it means a top-tuned head on the frozen pre-trained embeddings (the paper's baseline).
    toptuned     an MLP head top-tuned on the evaluated dataset's training split; the retrieval embedding is
                 the head's last hidden layer
    finetuned    the whole backbone fine-tuned on the evaluated dataset's training split (harness.compute.finetune)
    crosstuned   tuned (``tuning`` = finetuned or toptuned) on the ``source`` dataset's training split and
                 evaluated on another dataset: the paper's transfer experiment

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


@dataclass(frozen=True)
class Strategy:
    """Attributes:
    name: as written in suite files, ids and the database.
    description: one line for listings.
    defaults: the parameters the strategy adds to a cell of any suite.
    tuning: the tuning it applies (None: the loaded backbone; "param": read from the cell's ``tuning``).
    paired: the parameter a grid fills with each of its datasets in turn, when the grid gives none.
    """

    name: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    tuning: str | None = None
    paired: str | None = None

    def tuning_of(self, params: dict[str, Any]) -> str | None:
        return str(params["tuning"]) if self.tuning == "param" else self.tuning

    def trained_on(self, dataset: str, params: dict[str, Any]) -> str:
        """The dataset whose training split the tuning sees."""
        return str(params[self.paired]) if self.paired else dataset

    def normalise(self, params: dict[str, Any], dataset_id: Callable[[str], str]) -> dict[str, Any]:
        """Check the strategy's own parameters; keep only the preset of the tuning actually used.
        ``dataset_id`` turns a dataset as written into its canonical id (the dataset registry's; spec loads none)."""
        if self.tuning != "param":
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
    )
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise HarnessError(f"unknown strategy '{name}' (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]
