"""Codecs: how an embedding is stored. Each one is fitted on the training split's embeddings only (int8's
calibration, PCA's basis, binary's centre), then encodes the gallery and the queries; the codes are searched
with the codec's metric (``l2`` on the decoded float32 vectors, or ``hamming`` on packed bits).

A codec is named by a spec: ``fp32``, ``fp16``, ``int8``, ``binary``, ``pca:D``, ``truncate:D``. The registry
maps the part before the colon to a class; adding a codec is one class and one line.

- ``fp32``: the embedding as is (4 bytes per component): the reference.
- ``fp16``: half precision (2 bytes per component), decoded back to float32 for the search.
- ``int8``: scalar quantisation, one byte per component. Per dimension, the training split's minimum and
  maximum are the calibration bounds; [lo, hi] is cut into 255 equal steps, code = round((x - lo) / step) - 128,
  clipped to [-128, 127], so a test value outside the training range lands on the nearest bound.
- ``binary``: one sign bit per component of (x - the training split's mean), packed 8 to a byte and searched by
  Hamming distance. Centring matters: pooled post-ReLU features are all positive, so raw sign bits would all be 1.
- ``pca:D``: the training split's mean and top-D principal axes (SVD); vectors are projected, then L2-normalised
  again (the protocol compares unit vectors). D must not exceed the training rows or the embedding's dimension.
- ``truncate:D``: the first D components, L2-normalised again (meant for Matryoshka-trained models; any model
  can be measured).

``overhead_bytes`` is what an index stores once besides the codes (calibration bounds, a PCA basis, a mean).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from harness.compute.extract.vectors import l2_normalise
from harness.core.errors import HarnessError

L2, HAMMING = "l2", "hamming"


class Codec(ABC):
    """Fit once on training embeddings, then encode any split; decode gives what an ``l2`` search compares."""

    metric: ClassVar[str] = L2

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.fitted_rows: int | None = None  # how many (training) rows the fit saw; None before the fit

    def fit(self, train: np.ndarray) -> Codec:
        if self.fitted_rows is not None:
            raise HarnessError(f"codec {self.spec} is already fitted: a fit happens once, on the training split")
        train = np.asarray(train, dtype=np.float32)
        if train.ndim != 2 or len(train) == 0:
            raise HarnessError(f"codec {self.spec} needs a non-empty 2-D training array, got shape {train.shape}")
        self._fit(train)
        self.fitted_rows = len(train)
        return self

    def _fit(self, train: np.ndarray) -> None:  # noqa: B027  (most codecs need no fit)
        """Learn what the codec needs from the training rows."""

    def _check_fitted(self) -> None:
        if self.fitted_rows is None:
            raise HarnessError(f"codec {self.spec} must be fitted on the training split before it encodes")

    def encode(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._encode(np.asarray(x, dtype=np.float32))

    @abstractmethod
    def _encode(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 vectors whose squared L2 distances rank like the stored codes (``l2`` codecs)."""
        return np.asarray(codes, dtype=np.float32)

    @abstractmethod
    def bytes_per_vector(self, dim: int) -> int:
        """Bytes one stored vector takes, for an input embedding of ``dim`` components."""

    def overhead_bytes(self, dim: int) -> int:
        return 0

    def output_dim(self, dim: int) -> int:
        return dim


class Float32(Codec):
    def _encode(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def bytes_per_vector(self, dim: int) -> int:
        return 4 * dim


class Float16(Codec):
    def _encode(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float16)

    def bytes_per_vector(self, dim: int) -> int:
        return 2 * dim


class Int8(Codec):
    """Per-dimension scalar quantisation calibrated on the training split (module docstring)."""

    LEVELS = 255

    def _fit(self, train: np.ndarray) -> None:
        self.lo, self.hi = train.min(axis=0), train.max(axis=0)
        # a constant dimension gets a step of 1: every value codes to -128 and decodes to lo exactly
        self.step = np.where(self.hi > self.lo, (self.hi - self.lo) / self.LEVELS, 1.0).astype(np.float32)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        codes = np.rint((x - self.lo) / self.step) - 128
        return np.clip(codes, -128, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return ((codes.astype(np.float32) + 128) * self.step + self.lo).astype(np.float32)

    def bytes_per_vector(self, dim: int) -> int:
        return dim

    def overhead_bytes(self, dim: int) -> int:
        return 2 * 4 * dim  # lo and step, float32


class Binary(Codec):
    """Sign bits of the centred vector, packed; searched by Hamming distance."""

    metric = HAMMING

    def _fit(self, train: np.ndarray) -> None:
        self.mean = train.mean(axis=0)

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return np.packbits(x - self.mean > 0, axis=1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        raise HarnessError(
            "binary codes are searched by Hamming distance, not decoded (harness.compute.compression.hamming)"
        )

    def bytes_per_vector(self, dim: int) -> int:
        return -(-dim // 8)

    def overhead_bytes(self, dim: int) -> int:
        return 4 * dim


class _Reduced(Codec):
    """A codec that keeps ``dim`` float32 components (``name:D``)."""

    def __init__(self, spec: str, dim: int) -> None:
        super().__init__(spec)
        self.dim = dim

    def _check_dim(self, available: int, what: str) -> None:
        if self.dim > available:
            raise HarnessError(f"codec {self.spec}: {self.dim} dimensions asked for, but {what} has {available}")

    def bytes_per_vector(self, dim: int) -> int:
        return 4 * self.dim

    def output_dim(self, dim: int) -> int:
        return self.dim


class PCA(_Reduced):
    """Projection on the training split's top principal axes (module docstring)."""

    def _fit(self, train: np.ndarray) -> None:
        self._check_dim(train.shape[1], "the embedding")
        self._check_dim(len(train), "the training split (rows)")
        self.mean = train.mean(axis=0)
        _, _, vt = np.linalg.svd((train - self.mean).astype(np.float64), full_matrices=False)
        self.components = vt[: self.dim].astype(np.float32)  # (D, dim), orthonormal rows

    def _encode(self, x: np.ndarray) -> np.ndarray:
        return l2_normalise((x - self.mean) @ self.components.T).astype(np.float32)

    def overhead_bytes(self, dim: int) -> int:
        return 4 * (self.dim + 1) * dim  # basis and mean


class Truncate(_Reduced):
    """The first D components, re-normalised."""

    def _encode(self, x: np.ndarray) -> np.ndarray:
        self._check_dim(x.shape[1], "the embedding")
        return l2_normalise(x[:, : self.dim]).astype(np.float32)


PLAIN: dict[str, type[Codec]] = {"fp32": Float32, "fp16": Float16, "int8": Int8, "binary": Binary}
REDUCED: dict[str, type[_Reduced]] = {"pca": PCA, "truncate": Truncate}
KNOWN = (*PLAIN, *(f"{name}:D" for name in REDUCED))
REFERENCE = "fp32"


def make_codec(spec: str) -> Codec:
    """The codec a spec names (module docstring); a bad spec is one clear HarnessError."""
    name, colon, arg = spec.partition(":")
    if name in PLAIN and not colon:
        return PLAIN[name](spec)
    if name in REDUCED and colon:
        if not arg.isdigit() or int(arg) < 1:
            raise HarnessError(f"codec '{spec}': the dimension after '{name}:' must be a positive integer")
        return REDUCED[name](spec, int(arg))
    raise HarnessError(f"unknown compression '{spec}' (known: {', '.join(KNOWN)})")
