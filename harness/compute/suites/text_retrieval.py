"""The text_retrieval suite: text queries against a catalogue's images (or fused image + title documents).

Queries: each distinct text of a dataset field (``queries``: ``title``, ``class``, ``category``, a ``styles.csv``
column); a query's relevant items are the catalogue's items carrying that text. Or, with ``qrels``, a judgement
file in Marqo's format, ``{"<query text>": {"<document id>": 1, ...}}`` (its ``data/<set>/gt_query_doc/*.json``):
its queries, and its documents matched to items by file stem (``images/15970.jpg`` is document ``15970``).

The query is ``template.format(c=text)`` embedded by the model's text tower (an ensemble averaged as
CLIP_benchmark does); the catalogue is the split's L2-normalised image embeddings (``split = "all"``: train and
test together, as Marqo's leaderboards search the whole set), or with ``image_weight`` w < 1 the fused documents
normalise(w * image + (1 - w) * title) (Marqo's category tasks use w = 0.9). The search is the retrieval suite's
backend, the metrics are harness.compute.text.metrics' over the top ``depth``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.suites import Context, per_query
from harness.compute.suites.retrieval import cell_index
from harness.compute.text.encode import prompt_embeddings, text_tower
from harness.compute.text.fusion import fused_documents
from harness.compute.text.metrics import group_counts, group_relevance, text_scores
from harness.compute.text.templates import resolve_templates
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.compute.datasets.base import Item

#: the split value that searches the whole catalogue, train and test together
ALL = "all"


def query_groups(texts: list[str | None]) -> tuple[list[str], np.ndarray]:
    """The distinct texts (in order of first appearance) and each gallery item's index among them (-1: none)."""
    distinct = list(dict.fromkeys(t for t in texts if t))
    where = {text: i for i, text in enumerate(distinct)}
    return distinct, np.asarray([where[t] if t else -1 for t in texts], dtype=np.int64)


def catalogue(ctx: Context, split: str) -> tuple[list[Item], np.ndarray]:
    """The searched items and their L2-normalised image embeddings (the shared embedding cache), in order."""
    manifest = ctx.dataset.manifest()
    items, arrays = [], []
    for part in ("train", "test") if split == ALL else (split,):
        indices = manifest.indices(part)
        if indices or split != ALL:
            items += [manifest.items[i] for i in indices]
            arrays.append(split_embeddings(ctx.model, ctx.dataset, part, ctx.cache, ctx.extraction)[0])
    return items, l2_normalise(np.concatenate(arrays))


def read_qrels(path: Path, items: list[Item]) -> tuple[list[str], list[set[int]]]:
    """The judgement file's queries and, per query, the catalogue positions of its relevant documents."""
    try:
        judged = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"qrels file '{path}': cannot read it as JSON ({exc})") from exc
    if not isinstance(judged, dict) or not all(isinstance(d, dict) for d in judged.values()):
        raise HarnessError(f"qrels file '{path}': expected {{query text: {{document id: relevance}}}}")
    position = {PurePosixPath(item.key).stem: i for i, item in enumerate(items)}
    relevant = [{position[str(d)] for d, grade in docs.items() if grade > 0 and str(d) in position}
                for docs in judged.values()]  # fmt: skip
    return [str(q) for q in judged], relevant


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    tower = text_tower(ctx.model)
    templates = resolve_templates(p["templates"])
    items, gallery = catalogue(ctx, p["split"])
    texts = ctx.dataset.texts(p["queries"])
    if p["qrels"]:
        queries, relevant_sets = read_qrels(Path(p["qrels"]), items)
    else:
        queries, groups = query_groups([texts.by_key.get(item.key) for item in items])
    if not queries:
        raise HarnessError(f"no item of split '{p['split']}' of '{ctx.dataset.id}' has a '{p['queries']}' text")
    if p["image_weight"] != 1.0:
        gallery, ctx.details["fused"] = fused_documents(
            ctx.model, ctx.dataset, items, gallery, p["image_weight"], ctx.extraction
        )

    started = time.perf_counter()
    vectors = prompt_embeddings(ctx.model, queries, templates, ctx.extraction)
    encode_s = time.perf_counter() - started
    depth = int(min(p["depth"], len(gallery)))
    with cell_index(ctx) as index:
        started = time.perf_counter()
        index.fit(gallery)
        neighbours, _ = index.search(vectors, depth)
        search_s = time.perf_counter() - started

    if p["qrels"]:
        relevant = np.array([[n in judged for n in row] for row, judged in zip(neighbours, relevant_sets, strict=True)])
        n_relevant = np.array([len(judged) for judged in relevant_sets])
    else:
        own = np.arange(len(queries))
        relevant, n_relevant = group_relevance(groups[neighbours], own), group_counts(own, groups)
    scored = text_scores(relevant.reshape(len(queries), depth), n_relevant)
    ctx.details["texts"] = {"field": texts.field, "source": texts.source, "language": texts.language,
                            "digest": texts.digest, "templates": list(templates), "tokenizer": tower.tokenizer,
                            "text_weights": tower.weights_digest, "qrels": p["qrels"]}  # fmt: skip
    return {
        **scored.means(),
        **per_query.record(ctx, scored.query, scored.values),
        "text_n_queries": float(len(scored.query)),
        "text_n_excluded": float(scored.n_excluded),
        "text_n_gallery": float(len(gallery)),
        "text_n_without_text": float(sum(item.key not in texts.by_key for item in items)),
        "text_search_depth": float(depth),
        "text_encode_s": encode_s,
        "text_search_s": search_s,
    }
