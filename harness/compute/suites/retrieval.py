"""The retrieval suite: leave-one-out search over the evaluation split; metrics as docs/metrics.md
defines them."""

from __future__ import annotations

import os
import time

import numpy as np

from harness.compute.cost.prices import price_metrics
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.retrieval import leave_one_out_across, leave_one_out_with_distances
from harness.compute.retrieval import neighbours as stored
from harness.compute.retrieval.backends import IndexRequest, make_index
from harness.compute.retrieval.index import Index
from harness.compute.retrieval.index_recall import id_overlap, tie_aware_recall
from harness.compute.retrieval.indexes import index_spec
from harness.compute.retrieval.metrics import PerQuery, per_query_metrics, relevant_counts
from harness.compute.suites import Context, per_query
from harness.compute.suites.heads import head_costs, trained_head
from harness.compute.suites.tuning import backbone, tuned_on
from harness.core.errors import HarnessError
from harness.storage.sidefiles import save_neighbours

#: an approximate index's neighbours are compared with the exact ones at this depth (recall@k)
INDEX_RECALL_K = 10
#: the retrieval metrics whose ANN - exact difference a cell reports (the index's share of the error)
INDEX_DELTAS = ("mmp_at_5", "recall_at_1", "map_at_r")
#: at least this many neighbours are searched (NDCG@10), and at most Milvus's limit
MIN_DEPTH, MAX_DEPTH = 10, 16_383


def cell_index(ctx: Context) -> Index:
    """The cell's index, not yet fitted (harness.compute.retrieval.backends): ``exact`` on the cell's device, or
    Milvus at --milvus-uri (Milvus Lite by default) or, under ``milvus = "server"`` without one, the workdir's
    server. Every suite that searches asks here, so a backend means the same in each."""
    p = ctx.params
    request = IndexRequest(
        backend=p["backend"], milvus=p.get("milvus", "lite"), index=p.get("index", "FLAT"),
        index_params=p.get("index_params", ""), milvus_uri=ctx.milvus_uri,
        token=os.environ.get("ECOMBENCH_MILVUS_TOKEN", ""), device=ctx.extraction.device, workdir=ctx.workdir,
    )  # fmt: skip
    return make_index(request)


def _index_error(
    vectors: np.ndarray,
    labels: np.ndarray,
    n_relevant: np.ndarray,
    ann: np.ndarray,
    exact: np.ndarray,
    scored: PerQuery,
) -> dict[str, float]:
    """recall@k of the ANN neighbours against the exact ones (tie-aware, and by id), and each metric's ANN - exact
    difference (harness.compute.retrieval.index_recall)."""
    k = min(INDEX_RECALL_K, ann.shape[1])
    exact_scored = per_query_metrics(labels[exact], labels, n_relevant).means().as_dict()
    ann_scored = scored.means().as_dict()
    deltas = {f"index_delta_{m}": ann_scored[m] - exact_scored[m] for m in INDEX_DELTAS}
    return {
        "index_recall_at_10": float(tie_aware_recall(vectors, ann, exact, k).mean()),
        "index_overlap_at_10": float(id_overlap(ann, exact, k).mean()),
        **deltas,
    }


def fused_gallery(ctx: Context, images: np.ndarray, weight: float) -> np.ndarray:
    """The split's fused image + title documents (harness.compute.text.fusion); ``images`` normalised."""
    from harness.compute.text.fusion import fused_documents

    if tuned_on(ctx)[0] is not None:
        raise HarnessError("image_weight < 1 fuses the pretrained image and text embeddings: strategy pretrained only")
    manifest = ctx.dataset.manifest()
    items = [manifest.items[i] for i in manifest.indices(ctx.params["split"])]
    documents, ctx.details["fused"] = fused_documents(ctx.model, ctx.dataset, items, images, weight, ctx.extraction)
    return documents


def run(ctx: Context) -> dict[str, float]:
    split = ctx.params["split"]
    tuning, source = tuned_on(ctx)  # tuned on a training split only: no leakage into the evaluation
    model, costs = backbone(ctx, tuning, source)
    started = time.perf_counter()
    vectors, cached = split_embeddings(model, ctx.dataset, split, ctx.cache, ctx.extraction)
    extract_s = time.perf_counter() - started
    manifest = ctx.dataset.manifest()
    labels = np.asarray(manifest.labels(manifest.indices(split)))
    if len(np.unique(labels)) < 2:  # every neighbour would be relevant: each metric 1.0, measuring nothing
        raise HarnessError(
            f"split '{split}' of '{ctx.dataset.id}' has one class: retrieval needs images of 2 classes or more"
        )

    if tuning == "toptuned":
        head = trained_head(ctx, model, source)
        vectors, costs = head.embed(vectors), head_costs(head)
    vectors = l2_normalise(vectors)
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    # Deep enough for MAP@R of the largest class, capped by Milvus's limit (capped queries are counted).
    depth = int(min(max(MIN_DEPTH, n_relevant.max()), MAX_DEPTH, len(labels) - 1))

    # image queries against fused documents (image_weight < 1): their neighbours are not the image-only ones
    # that the stored exact neighbours of these vectors stand for
    fused = "image_weight" in ctx.params
    gallery = fused_gallery(ctx, vectors, ctx.params["image_weight"]) if fused else vectors
    with cell_index(ctx) as index:
        started = time.perf_counter()
        if fused:
            neighbours, distances = leave_one_out_across(index, vectors, gallery, depth)
        else:
            neighbours, distances = leave_one_out_with_distances(index, vectors, depth)
        search_s = time.perf_counter() - started
    ctx.details["neighbours"] = save_neighbours(ctx.workdir, f"{ctx.spec.key}.npz", neighbours, distances).name
    if ctx.params["backend"] == "exact" and not fused:  # what a later ANN cell over these vectors compares with
        save_neighbours(ctx.workdir, stored.exact_name(vectors, depth), neighbours, distances)

    scored = per_query_metrics(labels[neighbours], labels, n_relevant)
    metrics = scored.means().as_dict()
    approximate = not index_spec(ctx.params["index"], ctx.params["index_params"]).exact
    if ctx.params["backend"] == "milvus" and approximate and not fused:
        exact, _, _ = stored.exact(ctx.workdir, vectors, depth, ctx.extraction.device)
        metrics.update(_index_error(vectors, labels, n_relevant, neighbours, exact, scored))
    metrics.update(per_query.record(ctx, scored.query, scored.values))
    metrics.update(index.costs())
    metrics.update(
        search_s=search_s,
        search_depth=float(depth),
        embedding_dim=float(vectors.shape[1]),
        embeddings_cached=float(cached),
    )
    if not cached:  # the extraction's cost, once: a cached run did not pay it
        metrics.update(extract_s=extract_s, **price_metrics(extract_s, ctx.extraction.device, prefix="extract_"))
    return {**metrics, **costs}
