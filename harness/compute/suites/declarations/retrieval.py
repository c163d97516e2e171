"""The retrieval suite's declaration; its run() is harness.compute.suites.retrieval."""

from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError
from harness.spec.strategies import LADDER_RUNGS
from harness.spec.suites import Suite

#: ``milvus``: "lite" (Milvus Lite / --milvus-uri) or "server" (the workdir's real Milvus server, started when none
#: runs; --milvus-uri still wins); ``index`` / ``index_params``: harness.compute.retrieval.milvus.index_spec
DEFAULTS: dict[str, Any] = {"backend": "milvus", "split": "test", "milvus": "lite", "index": "FLAT", "index_params": ""}
#: ``image_weight`` w: each gallery item is normalise(w * image + (1 - w) * title), its text tower's embedding of
#: the dataset's ``title`` (pretrained only; the query stays the image). At 1, the default, the cell is today's
#: image retrieval, same key, same numbers: the parameter is only carried when given another value.
OPTIONAL: dict[str, Any] = {"image_weight": 1.0}
FUSED_FIELD = "title"
#: harness.spec.strategies; ``toptuned``'s embedding is the head's last hidden layer
STRATEGIES = ("pretrained", "toptuned", "finetuned", "crosstuned", *LADDER_RUNGS)


def check_params(params: dict[str, Any]) -> None:
    # imported here, when a cell is planned: the retrieval package brings numpy, and listing suites stays light
    from harness.compute.retrieval.backends import MILVUS_TARGETS
    from harness.compute.retrieval.indexes import index_spec

    if params["milvus"] not in MILVUS_TARGETS:
        raise HarnessError(f"parameter milvus='{params['milvus']}' must be one of {', '.join(MILVUS_TARGETS)}")
    index_spec(params["index"], params["index_params"])
    if not 0.0 <= params.get("image_weight", 1.0) <= 1.0:
        raise HarnessError(f"parameter image_weight={params['image_weight']} must lie in [0, 1]")


SUITE = Suite(
    name="retrieval",
    description="leave-one-out search over the evaluation split (mMP@5, mR@1, MAP@R, MRR, NDCG@k)",
    run_module="harness.compute.suites.retrieval",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    check_params=check_params,
    sweeps=("image_weight",),
    optional=OPTIONAL,
    text_fields=lambda params: (FUSED_FIELD,) if params.get("image_weight", 1.0) != 1.0 else (),
    backend_param="backend",
    milvus_param="milvus",
)
