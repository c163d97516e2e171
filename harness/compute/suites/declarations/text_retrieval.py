"""The text_retrieval suite's declaration; its run() is harness.compute.suites.text_retrieval."""

from __future__ import annotations

from typing import Any

from harness.compute.suites.declarations.retrieval import check_params as check_search
from harness.core.errors import HarnessError
from harness.spec.suites import Suite

#: ``queries``: the dataset text field whose distinct values are the queries (``title``: product titles, each
#: relevant to the images carrying it; ``class`` / ``category`` / a styles.csv column: every image of that
#: category); ``templates``: a set of harness/presets/templates.toml or one template holding {c}; ``depth``:
#: the ranked list scored (mAP and MRR within it); ``split``: test, train or all; ``image_weight``: documents
#: fused with their title below 1; ``qrels``: a judgement file (Marqo's format) instead of the field's own
#: groups, hashed into the cell key; the search backend as in the retrieval suite
DEFAULTS: dict[str, Any] = {
    "queries": "title", "templates": "plain", "split": "test", "depth": 1000, "image_weight": 1.0, "qrels": "",
    "backend": "exact", "milvus": "lite", "index": "FLAT", "index_params": "",
}  # fmt: skip
SPLITS = ("test", "train", "all")


def check_params(params: dict[str, Any]) -> None:
    from harness.compute.text.templates import resolve_templates

    resolve_templates(params["templates"])
    if params["depth"] < 10:
        raise HarnessError(f"parameter depth={params['depth']} must be at least 10 (hit@10, nDCG@10, Recall@10)")
    if params["split"] not in SPLITS:
        raise HarnessError(f"parameter split={params['split']!r} must be one of {', '.join(SPLITS)}")
    if not 0.0 <= params["image_weight"] <= 1.0:
        raise HarnessError(f"parameter image_weight={params['image_weight']} must lie in [0, 1]")
    check_search(params)


SUITE = Suite(
    name="text_retrieval",
    description="text -> image search: titles or category names as queries (hit@k, Recall@10, MRR, nDCG@10, mAP)",
    run_module="harness.compute.suites.text_retrieval",
    defaults=DEFAULTS,
    strategies=("pretrained",),
    sweeps=("queries", "templates"),
    check_params=check_params,
    backend_param="backend",
    milvus_param="milvus",
    text_fields=lambda params: tuple(dict.fromkeys([params["queries"], *(["title"] * (params["image_weight"] != 1))])),
)
