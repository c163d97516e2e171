"""The import path of extraction from before it was split into one module per job, kept for the callers that
still use it (the CLI and the worker import ``ExtractionSettings`` and ``EmbeddingCache`` from here, and the
golden fixtures were pinned against it): ``settings`` (ExtractionSettings), ``cache`` (EmbeddingCache),
``batches`` (decoding and the image-cache path), ``embeddings`` (the forward loop), ``vectors``
(l2_normalise). New code imports from those."""

from harness.compute.extract.cache import CACHE_FORMAT, EmbeddingCache
from harness.compute.extract.embeddings import extract, forward_precision, split_embeddings
from harness.compute.extract.settings import ExtractionSettings, default_workers, numeric_settings
from harness.compute.extract.vectors import l2_normalise

__all__ = [
    "CACHE_FORMAT",
    "EmbeddingCache",
    "ExtractionSettings",
    "default_workers",
    "extract",
    "forward_precision",
    "l2_normalise",
    "numeric_settings",
    "split_embeddings",
]
