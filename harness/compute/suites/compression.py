"""The compression suite: one deployment choice per cell — how the vectors are stored (``compression``) and the
precision of the forward pass that made them (``forward_precision``) — scored like the retrieval suite and
against the uncompressed exact result of the same model.

Why a suite of its own and not a retrieval parameter: every cell here needs a fit on the training split (int8
calibration, PCA basis, binary centre; harness.compute.compression.codecs) and a second, reference search (fp32 forward,
fp32 storage, exact backend) to report what the choice costs in quality; the retrieval suite does neither, and
its cells (and keys) stay as they are. Compression is a transform of the stored embeddings followed by a search
with the codec's metric: ``l2`` codecs are decoded and go to ``backend`` (``exact``, or ``milvus``: with ``milvus =
"server"`` and ``index`` / ``index_params`` the decoded codes go into a Milvus index, so storage format x index
type is a grid), ``hamming`` codes (``binary``) to harness.compute.compression.hamming. ``compression``,
``forward_precision`` and ``index`` may be lists in a suite file (the declaration's ``sweeps``): one cell per value.

Precision equivalence is the cell with ``compression = "fp32"`` and ``forward_precision = "bf16"`` (or fp16):
``overlap_at_10`` tells whether serving in bf16 changes the ranking, ``delta_*`` by how much the metrics move.

Metrics: the retrieval suite's quality metrics (with intervals) of the compressed search; ``delta_mmp_at_5``,
``delta_recall_at_1``, ``delta_map_at_r`` (compressed minus reference); ``overlap_at_10`` (mean share of each
query's reference top-10 neighbours still in its top 10); ``bytes_per_vector`` (one stored code);
``index_bytes`` (all gallery codes plus what the codec stores once); ``query_ms`` (search time per query of
the compressed search, on this backend and machine: the exact backend searches decoded float32, so there only
the dimension changes it); ``compressed_dim``; under ``backend = "milvus"`` also the Milvus index's own costs
(``milvus_build_s``, ``milvus_index_bytes``, ``milvus_qps``, ``milvus_latency_p50_ms`` / ``_p99_ms``, ...).
"""

from __future__ import annotations

import time

import numpy as np

from harness.compute.compression.codecs import HAMMING, REFERENCE, make_codec
from harness.compute.compression.hamming import HammingIndex
from harness.compute.retrieval import leave_one_out
from harness.compute.retrieval import neighbours as stored
from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts
from harness.compute.suites import Context, per_query, retrieval
from harness.compute.suites.declarations.compression import check_params
from harness.compute.suites.retrieval import MAX_DEPTH, MIN_DEPTH
from harness.compute.suites.served import served, split_labels

COMPARED = ("mmp_at_5", "recall_at_1", "map_at_r")
OVERLAP_AT = 10


def neighbour_overlap(reference: np.ndarray, other: np.ndarray, at: int = OVERLAP_AT) -> float:
    """Mean over queries of |top-``at`` of reference ∩ top-``at`` of other| / ``at`` (both (Q, K), K >= at)."""
    at = min(at, reference.shape[1], other.shape[1])
    shared = [len(np.intersect1d(a, b)) for a, b in zip(reference[:, :at], other[:, :at], strict=True)]
    return float(np.mean(shared) / at)


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    check_params(p)
    codec = make_codec(p["compression"])
    vectors, costs = served(ctx)
    labels = split_labels(ctx, p["split"])
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    depth = int(min(max(MIN_DEPTH, n_relevant.max()), MAX_DEPTH, len(labels) - 1))

    # The fit sees the training split only; the evaluated split is encoded with the frozen codec.
    codec.fit(vectors("train", p["forward_precision"]))
    evaluated = vectors(p["split"], p["forward_precision"])
    codes = codec.encode(evaluated)
    backend = HammingIndex() if codec.metric == HAMMING else retrieval.cell_index(ctx)
    searched = codes if codec.metric == HAMMING else codec.decode(codes)
    with backend:
        started = time.perf_counter()
        neighbours = leave_one_out(backend, searched, depth)
        search_s = time.perf_counter() - started

    is_reference = (p["compression"], p["forward_precision"], p["backend"]) == (REFERENCE, "fp32", "exact")
    if is_reference:
        reference = neighbours
    else:
        reference, _, _ = stored.exact(
            ctx.workdir, vectors(p["split"], "fp32"), depth, ctx.extraction.device
        )  # once per model

    scored = per_query_metrics(labels[neighbours], labels, n_relevant)
    base = per_query_metrics(labels[reference], labels, n_relevant).means().as_dict()
    metrics = scored.means().as_dict()
    metrics.update(per_query.record(ctx, scored.query, scored.values))
    metrics.update(backend.costs())
    dim = evaluated.shape[1]
    metrics.update(
        {f"delta_{name}": metrics[name] - base[name] for name in COMPARED},
        overlap_at_10=neighbour_overlap(reference, neighbours),
        bytes_per_vector=float(codec.bytes_per_vector(dim)),
        index_bytes=float(codec.bytes_per_vector(dim) * len(evaluated) + codec.overhead_bytes(dim)),
        query_ms=1000.0 * search_s / len(evaluated),
        search_s=search_s,
        search_depth=float(depth),
        embedding_dim=float(dim),
        compressed_dim=float(codec.output_dim(dim)),
    )
    ctx.details["compression"] = {
        "codec": codec.spec,
        "metric": codec.metric,
        "fitted_on": "train",
        "fitted_rows": codec.fitted_rows,
        "search": backend.name
        if p["backend"] != "milvus"
        else f"milvus {p['milvus']} {p['index']} {p['index_params']}".strip(),
        "reference": "fp32 forward, fp32 storage, exact backend",
    }
    return {**metrics, **costs}
