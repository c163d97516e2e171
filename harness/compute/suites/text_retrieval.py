"""The text_retrieval suite: each distinct text of a dataset field queries the evaluation split's images.

``queries = "title"``: a product title finds the image(s) carrying that title; ``class`` / ``category`` / a
``styles.csv`` column: a category name finds every image of the category. The query is
``template.format(c=text)`` embedded by the model's text tower (an ensemble of templates averaged as
CLIP_benchmark does), the gallery is the split's L2-normalised image embeddings (the embedding cache the image
suites share), the search is the retrieval suite's backend, and the metrics are harness.compute.text.metrics'.
"""

from __future__ import annotations

import time

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.suites import Context, per_query
from harness.compute.suites.retrieval import cell_index
from harness.compute.text.encode import prompt_embeddings, text_tower
from harness.compute.text.metrics import group_counts, text_scores
from harness.compute.text.templates import resolve_templates
from harness.core.errors import HarnessError


def query_groups(texts: list[str | None]) -> tuple[list[str], np.ndarray]:
    """The distinct texts (in order of first appearance) and each gallery item's index among them (-1: none)."""
    distinct = list(dict.fromkeys(t for t in texts if t))
    where = {text: i for i, text in enumerate(distinct)}
    return distinct, np.asarray([where[t] if t else -1 for t in texts], dtype=np.int64)


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    tower = text_tower(ctx.model)
    templates = resolve_templates(p["templates"])
    manifest = ctx.dataset.manifest()
    texts = ctx.dataset.texts(p["queries"])
    items = [manifest.items[i] for i in manifest.indices(p["split"])]
    distinct, groups = query_groups([texts.by_key.get(item.key) for item in items])
    if not distinct:
        raise HarnessError(f"no image of split '{p['split']}' of '{ctx.dataset.id}' has a '{p['queries']}' text")

    images, _ = split_embeddings(ctx.model, ctx.dataset, p["split"], ctx.cache, ctx.extraction)
    gallery = l2_normalise(images)
    started = time.perf_counter()
    queries = prompt_embeddings(ctx.model, distinct, templates, ctx.extraction)
    encode_s = time.perf_counter() - started
    depth = int(min(p["depth"], len(gallery)))
    with cell_index(ctx) as index:
        started = time.perf_counter()
        index.fit(gallery)
        neighbours, _ = index.search(queries, depth)
        search_s = time.perf_counter() - started

    own = np.arange(len(distinct))
    scored = text_scores(groups[neighbours], own, group_counts(own, groups))
    ctx.details["texts"] = {"field": texts.field, "source": texts.source, "language": texts.language,
                            "digest": texts.digest, "templates": list(templates), "tokenizer": tower.tokenizer,
                            "text_weights": tower.weights_digest}  # fmt: skip
    return {
        **scored.means(),
        **per_query.record(ctx, scored.query, scored.values),
        "text_n_queries": float(len(scored.query)),
        "text_n_excluded": float(scored.n_excluded),
        "text_n_gallery": float(len(gallery)),
        "text_n_without_text": float((groups < 0).sum()),
        "text_search_depth": float(depth),
        "text_encode_s": encode_s,
        "text_search_s": search_s,
    }
