"""Compressed embeddings: a codec encodes the stored (L2-normalised) vectors, fitted on the training split only,
and names the metric its codes are searched with (harness.compute.compression.codecs); binary codes are searched by
Hamming distance (harness.compute.compression.hamming)."""
