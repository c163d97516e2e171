"""The report's "Search by text" section: per dataset, the models side by side on text -> image search
(text_retrieval, one row per query field, template set and protocol), zero-shot classification (zeroshot), and
fused image + title documents against the same model's image-only retrieval (retrieval's ``image_weight``); the
text query's latency and throughput (the cost suite); the decision lines ("the best model for title search on
..."); and the published text figures (harness/report/published.toml) beside each of our rows of the same model,
dataset kind and metric, with its task, so the reader sees which one follows the source's protocol. Read from the
``results`` view (bound parameters only); rendered by the ``text.*.j2`` partials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.report.data import Filters
from harness.report.published import Published, entries, kind, matches
from harness.spec.metrics import label
from harness.storage.store import connect, dataset_match

SEARCH = ("text_hit_at_1", "text_hit_at_5", "text_hit_at_10", "text_recall_at_1", "text_recall_at_10", "text_mrr",
          "text_ndcg_at_10", "text_map", "text_map_ci_low", "text_map_ci_high", "text_n_queries")  # fmt: skip
ZEROSHOT = ("zeroshot_acc1", "zeroshot_acc5", "zeroshot_balanced_accuracy", "zeroshot_acc1_ci_low",
            "zeroshot_acc1_ci_high", "zeroshot_n_classes")  # fmt: skip
FUSED = ("mmp_at_5", "recall_at_1", "map_at_r")
LATENCY = ("text_latency_b1_p50_ms", "text_latency_b1_p99_ms", "text_throughput_queries_s")

_FILTER = f"(?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR {dataset_match()})"
NEWEST = f"""
    SELECT model, dataset, params, random_init, metric, value FROM results
    WHERE suite = ? AND strategy = 'pretrained' AND list_contains(?, metric) AND {_FILTER}
    QUALIFY row_number() OVER (
        PARTITION BY model, dataset, params::VARCHAR, metric ORDER BY finished_at DESC) = 1
    ORDER BY dataset, model
"""


@dataclass
class Row:
    """One model on one task of one dataset (or one fused weight); ``task`` says which queries / templates."""

    dataset: str
    model: str
    task: str
    random_init: bool
    values: dict[str, float] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)


@dataclass
class Fused:
    """One model's image retrieval on one dataset, image-only (w = 1) and with each fused weight measured."""

    dataset: str
    model: str
    random_init: bool
    by_weight: dict[float, dict[str, float]] = field(default_factory=dict)

    @property
    def weights(self) -> list[float]:
        return sorted(self.by_weight, reverse=True)

    def delta(self, weight: float, metric: str = "mmp_at_5") -> float | None:
        base, fused = self.by_weight.get(1.0, {}), self.by_weight.get(weight, {})
        return fused[metric] - base[metric] if metric in base and metric in fused else None


@dataclass
class Beside:
    """A published text figure and our rows of the same model, dataset kind and metric (one per task)."""

    published: Published
    ours: list[Row]

    @property
    def label(self) -> str:
        return label(self.published.metric)


@dataclass
class TextSection:
    search: list[Row]
    zeroshot: list[Row]
    fused: list[Fused]
    latency: list[Row]
    published: list[Beside] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.search or self.zeroshot or self.fused or self.latency)

    @property
    def datasets(self) -> list[str]:
        found = {r.dataset for r in [*self.search, *self.zeroshot]} | {f.dataset for f in self.fused}
        return sorted(found)

    def decisions(self) -> list[str]:
        """The decision-summary lines: the best model per dataset and task, and what a title adds."""
        lines = []
        for rows, metric, name in ((self.search, "text_map", "text mAP"), (self.zeroshot, "zeroshot_acc1", "acc1")):
            tasks: dict[tuple[str, str], list[Row]] = {}
            for r in rows:
                if r.get(metric) is not None:
                    tasks.setdefault((r.dataset, r.task), []).append(r)
            for (dataset, task), candidates in sorted(tasks.items()):
                best = max(candidates, key=lambda r: (r.values[metric], r.model))
                warn = " (RANDOM-INIT: this checks the harness, not the model)" if best.random_init else ""
                lines.append(f"On {dataset}, {task}: best is {best.model}, {name} {best.values[metric]:.4f} "
                             f"of {len(candidates)} model(s){warn}.")  # fmt: skip
        for f in self.fused:
            for w in f.weights:
                if w != 1.0 and (d := f.delta(w)) is not None:
                    lines.append(f"On {f.dataset}, fusing {f.model}'s title embedding at image weight {w:g} changes "
                                 f"image search mMP@5 by {d:+.4f} against its image-only documents.")  # fmt: skip
        return lines


def _params(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def _task(suite: str, p: dict[str, Any]) -> str:
    if suite == "zeroshot":
        return f"zero-shot, templates {p.get('templates')}"
    queries = f"queries of {Path(p['qrels']).name}" if p.get("qrels") else str(p.get("queries"))
    documents = f"image + title (w = {p['image_weight']:g})" if p.get("image_weight", 1.0) != 1.0 else "image"
    where = f", split {p.get('split')}, top {p.get('depth')}" if p.get("split") != "test" or p.get("qrels") else ""
    return f"{queries} → {documents}, templates {p.get('templates')}{where}"


def beside(section: TextSection, filters: Filters, published: list[Published] | None = None) -> list[Beside]:
    """Every published text figure the filters admit, with our rows that measure it."""
    rows = [*section.search, *section.zeroshot]
    out = []
    for pub in entries() if published is None else published:
        if not pub.is_text or filters.model not in (None, pub.model):
            continue
        if filters.dataset is not None and kind(filters.dataset) != kind(pub.dataset):
            continue
        ours = [r for r in rows if r.model == pub.model and matches(pub.dataset, r.dataset) and pub.metric in r.values]
        out.append(Beside(pub, ours))
    return out


def load(db: Path, filters: Filters | None = None) -> TextSection:
    """The text suites' newest results of ``db`` (filtered by model and dataset)."""
    filters = filters or Filters()
    where = [filters.model, filters.model, *filters.dataset_params()]
    con = connect(db, read_only=True)
    try:
        rows: dict[str, dict[tuple[str, ...], Row]] = {"text_retrieval": {}, "zeroshot": {}, "cost": {}}
        for suite, shown in (("text_retrieval", SEARCH), ("zeroshot", ZEROSHOT), ("cost", LATENCY)):
            for model, dataset, params, random_init, metric, value in con.execute(
                NEWEST, [suite, list(shown), *where]
            ).fetchall():
                task = _task(suite, _params(params)) if suite != "cost" else "text query"
                key = (dataset, model, task, json.dumps(_params(params), sort_keys=True))
                row = rows[suite].setdefault(key, Row(dataset, model, task, bool(random_init)))
                row.values[metric] = float(value)
        fused: dict[tuple[str, str, str], Fused] = {}
        for model, dataset, params, random_init, metric, value in con.execute(
            NEWEST, ["retrieval", list(FUSED), *where]
        ).fetchall():
            p = _params(params)
            weight = float(p.pop("image_weight", 1.0))
            entry = fused.setdefault((dataset, model, json.dumps(p, sort_keys=True)),
                                     Fused(dataset, model, bool(random_init)))  # fmt: skip
            entry.by_weight.setdefault(weight, {})[metric] = float(value)
    finally:
        con.close()
    section = TextSection(
        search=list(rows["text_retrieval"].values()),
        zeroshot=list(rows["zeroshot"].values()),
        fused=[f for f in fused.values() if len(f.by_weight) > 1 or 1.0 not in f.by_weight],
        latency=list(rows["cost"].values()),
    )
    if section:  # a report without text results gets no text section, published figures included
        section.published = beside(section, filters)
    return section
