"""The metric registry: one declaration per metric any suite emits (names are contracts).

The database's ``metric_registry`` table (and through it the ``cost_ledger`` view), the CLI's column labels
and the report's column labels are generated from ``METRICS``; tests/spec/test_metrics_registry.py runs the real
suites and fails on any metric not declared here, so a new metric is never silently left out of the ledger.

Kinds:

- ``quality``: what a model is chosen for (retrieval and classification scores, held-out accuracies).
- ``cost``: a time, throughput, memory, FLOPs, size or price figure, or the stability of one; exactly these
  land in the ``cost_ledger`` view.
- ``count``: bookkeeping, settings actually used and flags (queries counted, search depth, batch size tried).
- ``interval``: ``<name>_ci_low`` / ``<name>_ci_high``, the 95% percentile-bootstrap interval of a quality
  metric that is a mean of per-query (per-test-image) values (harness.compute.stats.bootstrap_mean).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KINDS = ("quality", "cost", "count", "interval")
RETRIEVAL, CLASSIFICATION, COST, FINETUNE = "retrieval", "classification", "cost", "finetune"
COMPRESSION, LEAKAGE = "compression", "leakage"
#: suites that score a leave-one-out search (harness.compute.retrieval.metrics)
RANKED = (RETRIEVAL, COMPRESSION, LEAKAGE)
#: suites whose cells may top-tune a head or fine-tune a backbone (and so emit those costs)
HEAD_SUITES = (RETRIEVAL, CLASSIFICATION, COMPRESSION, LEAKAGE)
TUNING_SUITES = (RETRIEVAL, CLASSIFICATION, FINETUNE, COMPRESSION, LEAKAGE)


@dataclass(frozen=True)
class Metric:
    """One metric: ``higher_is_better`` is None for counts and settings, which are not ranked."""

    name: str
    label: str
    unit: str
    kind: str
    higher_is_better: bool | None
    suites: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name}: kind {self.kind!r} is not one of {KINDS}")


def _m(name: str, label: str, unit: str, kind: str, higher: bool | None, *suites: str) -> Metric:
    return Metric(name, label, unit, kind, higher, suites)


def _priced(prefix: str, what: str, suites: tuple[str, ...]) -> list[Metric]:
    """The figures of harness.compute.cost.prices.price_metrics for one phase."""
    return [
        _m(f"{prefix}device_s", f"{what} device time", "s", "cost", False, *suites),
        _m(f"{prefix}device_hours", f"{what} device-hours", "h", "cost", False, *suites),
        _m(f"{prefix}gpu_hours", f"{what} GPU-hours", "h", "cost", False, *suites),
        _m(f"{prefix}price_usd", f"{what} price", "USD", "cost", False, *suites),
        _m(f"{prefix}usd_per_hour", f"{what} device rate", "USD/h", "cost", False, *suites),
    ]


def _intervals(metric: Metric) -> list[Metric]:
    return [
        _m(f"{metric.name}_ci_{end}", f"{metric.label} 95% CI {end}", metric.unit, "interval", metric.higher_is_better,
           *metric.suites)
        for end in ("low", "high")
    ]  # fmt: skip


#: quality metrics that are means of per-query (retrieval) or per-test-image (classification) values: these
#: carry bootstrap intervals and per-query arrays for paired tests
PER_QUERY = [
    _m("mmp_at_5", "mMP@5", "", "quality", True, *RANKED),
    _m("recall_at_1", "mR@1", "", "quality", True, *RANKED),
    _m("map_at_r", "MAP@R", "", "quality", True, *RANKED),
    _m("mrr", "MRR", "", "quality", True, *RANKED),
    _m("ndcg_at_10", "NDCG@10", "", "quality", True, *RANKED),
    _m("accuracy", "acc", "", "quality", True, CLASSIFICATION),
    _m("top5_accuracy", "top-5 acc", "", "quality", True, CLASSIFICATION),
]

#: the ranked metrics that other metrics restate (a difference, a subset of queries): (name, label)
_HEADLINE = (("mmp_at_5", "mMP@5"), ("recall_at_1", "mR@1"), ("map_at_r", "MAP@R"))


def _headline(prefix: str, label: str, suite: str) -> list[Metric]:
    """``prefix + name`` for each headline metric, labelled ``label.format(its label)``."""
    return [_m(f"{prefix}{name}", label.format(lab), "", "quality", True, suite) for name, lab in _HEADLINE]


_DECLARED = [
    *PER_QUERY,
    *(interval for metric in PER_QUERY for interval in _intervals(metric)),
    # retrieval bookkeeping and costs
    _m("n_queries", "queries", "", "count", None, *RANKED),
    _m("n_excluded", "excluded queries", "", "count", None, *RANKED),
    _m("n_capped", "capped queries", "", "count", None, *RANKED),
    _m("search_depth", "search depth", "", "count", None, *RANKED),
    _m("embedding_dim", "embedding dim", "", "count", None, *RANKED, COST),
    _m("embeddings_cached", "embeddings cached", "flag", "count", None, RETRIEVAL),
    _m("search_s", "search time", "s", "cost", False, *RANKED),
    # an approximate Milvus index against the exact neighbours of the same vectors (the index's share of the error);
    # recall counts ties at the 10th distance as ann-benchmarks does (harness.compute.retrieval.index_recall)
    _m("index_recall_at_10", "index recall@10", "", "quality", True, RETRIEVAL),
    *_headline("index_delta_", "index {} delta", RETRIEVAL),
    # a Milvus search's own costs (harness.compute.retrieval.collections.SearchStats): build = insert, flush,
    # index, load
    _m("milvus_build_s", "Milvus index build time", "s", "cost", False, RETRIEVAL, COMPRESSION),
    _m("milvus_index_bytes", "Milvus index size", "B", "cost", False, RETRIEVAL, COMPRESSION),
    _m("milvus_index_bytes_estimated", "Milvus index size is an estimate", "flag", "count", None, RETRIEVAL,
       COMPRESSION),
    _m("milvus_index_reused", "Milvus collection reused", "flag", "count", None, RETRIEVAL, COMPRESSION),
    _m("milvus_search_s", "Milvus search time", "s", "cost", False, RETRIEVAL, COMPRESSION),
    _m("milvus_qps", "Milvus queries per second", "queries/s", "cost", True, RETRIEVAL, COMPRESSION),
    _m("milvus_latency_p50_ms", "Milvus query latency p50", "ms", "cost", False, RETRIEVAL, COMPRESSION),
    _m("milvus_latency_p99_ms", "Milvus query latency p99", "ms", "cost", False, RETRIEVAL, COMPRESSION),
    _m("extract_s", "extraction time", "s", "cost", False, RETRIEVAL),
    *_priced("extract_", "extraction", (RETRIEVAL,)),
    # the compression suite (harness.compute.suites.compression's docstring)
    *_headline("delta_", "Δ {} vs fp32 exact", COMPRESSION),
    _m("overlap_at_10", "neighbour overlap@10 vs fp32 exact", "", "quality", True, COMPRESSION),
    _m("bytes_per_vector", "bytes per vector", "B", "cost", False, COMPRESSION),
    _m("index_bytes", "index size", "B", "cost", False, COMPRESSION),
    _m("query_ms", "query latency", "ms/query", "cost", False, COMPRESSION),
    _m("compressed_dim", "stored dimensions", "", "count", None, COMPRESSION),
    # the leakage suite (harness.compute.suites.leakage's docstring)
    _m("leak_threshold", "near-duplicate cosine threshold", "", "count", None, LEAKAGE),
    _m("n_near_duplicate_pairs", "near-duplicate train/test pairs", "", "count", None, LEAKAGE),
    _m("n_identical_pairs", "byte-identical train/test pairs", "", "count", None, LEAKAGE),
    _m("n_leaked_queries", "queries with a train duplicate", "", "count", None, LEAKAGE),
    *_headline("clean_", "{} without leaked queries", LEAKAGE),
    _m("n_clean_queries", "queries without a train duplicate", "", "count", None, LEAKAGE),
    # classification
    _m("precision_macro", "macro precision", "", "quality", True, CLASSIFICATION),
    _m("recall_macro", "macro recall", "", "quality", True, CLASSIFICATION),
    _m("f1_macro", "macro F1", "", "quality", True, CLASSIFICATION),
    _m("n_classes", "classes", "", "count", None, CLASSIFICATION),
    _m("n_test", "test images", "", "count", None, CLASSIFICATION),
    # the top-tuned head (harness.compute.suites.heads.head_costs)
    _m("tuner_trials", "tuner trials", "", "count", None, *HEAD_SUITES),
    _m("tuner_search_s", "tuner search time", "s", "cost", False, *HEAD_SUITES),
    _m("head_train_s", "head training time", "s", "cost", False, *HEAD_SUITES),
    _m("head_epochs", "head epochs", "", "count", None, *HEAD_SUITES),
    _m("head_val_accuracy", "head val acc", "", "quality", True, *HEAD_SUITES),
    # a resumed search is charged for every attempt (in the ledger, so the cost explains itself)
    _m("tuner_search_attempts", "tuner search attempts", "", "cost", False, *HEAD_SUITES),
    _m("head_threads", "head training threads", "", "count", None, *HEAD_SUITES),
    *_priced("toptune_", "top-tuning", HEAD_SUITES),
    # fine-tuning (harness.compute.suites.tuning.finetuned_backbone)
    _m("finetune_s", "fine-tuning time", "s", "cost", False, *TUNING_SUITES),
    _m("finetune_epochs", "fine-tuning epochs", "", "count", None, *TUNING_SUITES),
    _m("finetune_peak_memory_mb", "fine-tuning peak memory", "MB", "cost", False, *TUNING_SUITES),
    _m("finetune_images_per_s", "fine-tuning throughput", "img/s", "cost", True, *TUNING_SUITES),
    _m("finetune_val_accuracy", "fine-tuning val acc", "", "quality", True, *TUNING_SUITES),
    *_priced("finetune_", "fine-tuning", TUNING_SUITES),
    # the cost suite (harness.compute.suites.cost's docstring)
    *(_m(f"latency_b1_{s}_ms", f"batch-1 latency {s}", "ms", "cost", False, COST)
      for s in ("p50", "p95", "p99", "mean")),
    _m("best_batch_size", "best batch size", "", "cost", True, COST),
    _m("batch_search_capped", "batch search capped", "flag", "count", None, COST),
    _m("throughput_model_img_s", "model throughput", "img/s", "cost", True, COST),
    _m("throughput_pipeline_img_s", "pipeline throughput", "img/s", "cost", True, COST),
    _m("pipeline_efficiency", "pipeline efficiency", "ratio", "cost", True, COST),
    _m("decode_ms_per_image", "decode time", "ms/img", "cost", False, COST),
    _m("preprocess_ms_per_image", "preprocess time", "ms/img", "cost", False, COST),
    _m("forward_ms_per_image", "forward time", "ms/img", "cost", False, COST),
    _m("peak_memory_mb", "peak memory", "MB", "cost", False, COST),
    _m("params", "parameters", "", "cost", False, COST),
    _m("gflops_per_image", "GFLOPs per image", "GFLOPs", "cost", False, COST),
    *(_m(f"embedding_bytes_{p}", f"embedding bytes ({p})", "B", "cost", False, COST) for p in ("fp32", "bf16", "fp16")),
    *(
        m
        for stage in ("latency_b1", "throughput_model", "throughput_pipeline")
        for m in (
            _m(f"{stage}_spread", f"{stage} spread", "ratio", "cost", False, COST),
            _m(f"{stage}_unstable", f"{stage} unstable", "flag", "cost", False, COST),
        )
    ),
    _m("pipeline_batch_size", "pipeline batch size", "", "count", None, COST),
    _m("pipeline_workers", "pipeline workers", "", "count", None, COST),
    _m("pipeline_images", "pipeline images", "", "count", None, COST),
    *_priced("measure_", "cost measurement", (COST,)),
    # --- the field's conventions and the anchors -----------------------------------------------------------
    # An approximate index's id overlap with the exact top 10 (harness.compute.retrieval.index_recall), beside
    # index_recall_at_10, which counts a returned neighbour within the exact 10th distance + 1e-3 (ann-benchmarks'
    # tie-aware rule): the gap between the two is what exact duplicates (equally distant items) cost the id count.
    _m("index_overlap_at_10", "index id overlap@10", "", "quality", True, RETRIEVAL),
    # --- the adaptation ladder's cost ledger, per rung (harness.compute.finetune.adapt; docs/ladder.md): the
    # parameters a fine-tune variant trains and the bytes of what a deployment stores beside the pre-trained
    # weights (a LoRA adapter; lastk's trained blocks; the whole backbone for full fine-tuning, LP-FT and
    # WiSE-FT). Its training device-seconds and peak memory are finetune_device_s and finetune_peak_memory_mb.
    _m("finetune_trainable_params", "trainable parameters", "", "cost", False, *TUNING_SUITES),
    _m("finetune_stored_bytes", "deployment checkpoint size", "B", "cost", False, *TUNING_SUITES),
    # --- cheap transferability signals (the signals suite; harness.compute.selection.signals) -------------------
    # One number per backbone and dataset from frozen embeddings of a class-stratified sample, higher meaning
    # "should be the better backbone": kind quality, since what they are for is ranking models as mMP@5 does
    # (ecombench recommend scores each one's ranking against the grid's); not retrieval scores, so no intervals.
    _m("knn_accuracy", "k-NN accuracy", "", "quality", True, "signals"),
    _m("logme", "LogME", "", "quality", True, "signals"),
    _m("hscore", "H-score", "", "quality", True, "signals"),
    _m("hscore_shrunk", "shrunk H-score", "", "quality", True, "signals"),
    _m("signal_images", "signal sample images", "", "count", None, "signals"),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The text suites (harness.compute.text.metrics' and harness.compute.suites.zeroshot's docstrings): text -> image
# search and zero-shot classification. Their per-query (per-image) means carry intervals like the image ones.
TEXT_RETRIEVAL, ZEROSHOT = "text_retrieval", "zeroshot"
TEXT_PER_QUERY = [
    *(_m(f"text_hit_at_{k}", f"text hit@{k}", "", "quality", True, TEXT_RETRIEVAL) for k in (1, 5, 10)),
    _m("text_recall_at_1", "text Recall@1", "", "quality", True, TEXT_RETRIEVAL),
    _m("text_recall_at_10", "text Recall@10", "", "quality", True, TEXT_RETRIEVAL),
    _m("text_precision_at_10", "text P@10", "", "quality", True, TEXT_RETRIEVAL),
    _m("text_mrr", "text MRR", "", "quality", True, TEXT_RETRIEVAL),
    _m("text_ndcg_at_10", "text nDCG@10", "", "quality", True, TEXT_RETRIEVAL),
    _m("text_map", "text mAP", "", "quality", True, TEXT_RETRIEVAL),
    _m("zeroshot_acc1", "zero-shot acc1", "", "quality", True, ZEROSHOT),
    _m("zeroshot_acc5", "zero-shot acc5", "", "quality", True, ZEROSHOT),
    _m("zeroshot_balanced_accuracy", "zero-shot balanced acc", "", "quality", True, ZEROSHOT),
]
PER_QUERY += TEXT_PER_QUERY
_DECLARED += [
    *TEXT_PER_QUERY,
    *(interval for metric in TEXT_PER_QUERY for interval in _intervals(metric)),
    _m("text_n_queries", "text queries", "", "count", None, TEXT_RETRIEVAL),
    _m("text_n_excluded", "text queries without a relevant image", "", "count", None, TEXT_RETRIEVAL),
    _m("text_n_gallery", "images searched", "", "count", None, TEXT_RETRIEVAL),
    _m("text_n_without_text", "images without the query field's text", "", "count", None, TEXT_RETRIEVAL),
    _m("text_search_depth", "text search depth", "", "count", None, TEXT_RETRIEVAL),
    _m("text_encode_s", "query encoding time", "s", "cost", False, TEXT_RETRIEVAL),
    _m("text_search_s", "text search time", "s", "cost", False, TEXT_RETRIEVAL),
    _m("zeroshot_n_classes", "zero-shot classes", "", "count", None, ZEROSHOT),
    _m("zeroshot_n_test", "zero-shot test images", "", "count", None, ZEROSHOT),
    # the cost suite's text tower (harness.compute.suites.cost: a text query is encoded at search time)
    *(_m(f"text_latency_b1_{s}_ms", f"text query latency {s}", "ms", "cost", False, COST) for s in ("p50", "p99")),
    _m("text_throughput_queries_s", "text encoding throughput", "queries/s", "cost", True, COST),
]
# --------------------------------------------------------------------------------------------- end: text suites


def _index(declared: Iterable[Metric]) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for metric in declared:
        if metric.name in out:
            raise ValueError(f"metric {metric.name} declared twice")
        out[metric.name] = metric
    return out


#: name -> declaration
METRICS: dict[str, Metric] = _index(_DECLARED)


def label(name: str) -> str:
    """The display label of a metric; an undeclared name is shown as itself."""
    return METRICS[name].label if name in METRICS else name


def labels(*names: str) -> dict[str, str]:
    """name -> label, in the given order (e.g. the CLI's columns)."""
    return {name: METRICS[name].label for name in names}


def unregistered(names: Iterable[str]) -> list[str]:
    return sorted(set(names) - set(METRICS))


def of_kind(kind: str) -> list[str]:
    return [m.name for m in METRICS.values() if m.kind == kind]


def rows() -> list[tuple[str, str, str, str, bool | None, list[str]]]:
    """The ``metric_registry`` table's rows (harness.storage.store creates it from these)."""
    return [(m.name, m.label, m.unit, m.kind, m.higher_is_better, list(m.suites)) for m in METRICS.values()]
