"""The signals suite's declaration; its run() is harness.compute.suites.signals."""

from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError
from harness.spec.suites import Suite

#: ``per_class``: images of each class in the sample the signals see (all of a class that has fewer);
#: ``sample_seed``: the seed of that class-stratified sample (harness.compute.selection.sampling). The defaults are
#: ``ecombench recommend``'s first stage, so a stored signal is the one a recommendation would compute.
DEFAULTS: dict[str, Any] = {"split": "test", "per_class": 5, "sample_seed": 0}
#: the signals judge a backbone before any tuning: frozen pre-trained embeddings only
STRATEGIES = ("pretrained",)


def check_params(params: dict[str, Any]) -> None:
    for name, least in (("per_class", 2), ("sample_seed", 0)):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise HarnessError(f"signals suite: {name}={value!r} must be an integer >= {least}")
    if params["split"] == "train":
        raise HarnessError("signals suite: split='train' scores the data a later head trains on; use test")


SUITE = Suite(
    name="signals",
    description="cheap transferability signals (k-NN accuracy, LogME, H-score) on a class-stratified sample",
    run_module="harness.compute.suites.signals",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    check_params=check_params,
)
