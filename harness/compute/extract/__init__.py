"""Embeddings of a dataset split, computed once and reused by every suite: extraction, its content-addressed
cache, the decoded-image cache and batched JPEG decoding."""
