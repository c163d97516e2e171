"""The compression suite's declaration; its run() is harness.compute.suites.compression."""

from __future__ import annotations

from typing import Any

from harness.compute.suites.declarations import retrieval
from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS
from harness.spec.suites import Suite

#: the codec every cell is compared with (harness.compute.compression.codecs.REFERENCE, checked by a test)
REFERENCE = "fp32"
#: ``milvus`` / ``index`` / ``index_params``: as in the retrieval suite, for ``backend = "milvus"``: the decoded
#: codes searched through a Milvus index, so a grid crosses storage format x index type
DEFAULTS: dict[str, Any] = {
    "compression": REFERENCE, "forward_precision": "fp32", "backend": "exact", "split": "test",
    "milvus": "lite", "index": "FLAT", "index_params": "",
}  # fmt: skip
STRATEGIES = ("pretrained", "toptuned", "finetuned")
#: parameters a suite file may give as lists: the grid makes one cell per value (harness.plan.grid)
SWEEPS = ("compression", "forward_precision", "index")


def check_params(params: dict[str, Any]) -> None:
    # imported here, when a cell is planned: they bring numpy, and listing suites stays light
    from harness.compute.compression.codecs import make_codec
    from harness.compute.retrieval.backends import BACKENDS

    make_codec(params["compression"])
    if params["forward_precision"] not in PRECISIONS:
        raise HarnessError(
            f"compression suite: forward_precision={params['forward_precision']!r}: expected one of "
            f"{', '.join(PRECISIONS)}"
        )
    if params["backend"] not in BACKENDS:
        raise HarnessError(f"compression suite: backend={params['backend']!r}: expected one of {', '.join(BACKENDS)}")
    retrieval.check_params(params)


SUITE = Suite(
    name="compression",
    description="stored-vector compression and forward precision, scored against the uncompressed exact search",
    run_module="harness.compute.suites.compression",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    sweeps=SWEEPS,
    own_precision=True,  # its forward_precision parameter
    check_params=check_params,
    backend_param="backend",
    milvus_param="milvus",
)
