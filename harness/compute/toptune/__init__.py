"""Top-tuning: an MLP head searched with KerasTuner on frozen embeddings (Keras 3, torch backend by default).

Data flow: embeddings of the training split -> seeded stratified train/validation carve -> Bayesian search
-> the best configuration retrained with early stopping -> a saved head, cached by the top-tuning job's key
and shared by the classification suite (test-set metrics) and the retrieval suite's ``toptuned`` strategy
(the head's last hidden layer as the embedding).

``KERAS_BACKEND=tensorflow`` (the ``ecombench[tensorflow]`` extra) runs the same search on TensorFlow; the
backend is part of the search's key when it is not the default, so the two never share a cached head.
"""

from __future__ import annotations

import importlib.util
import os

from harness.core.errors import HarnessError

#: Keras backends the harness supports, and how to install each (torch is in the lock)
KERAS_BACKENDS = {"torch": "in the default install", "tensorflow": "uv sync --extra tensorflow (ecombench[tensorflow])"}
DEFAULT_BACKEND = "torch"

# Keras picks its backend at import time; this package is the only place that imports Keras.
os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)


def keras_backend() -> str:
    """The Keras backend top-tuning runs on, checked before Keras is imported (one clear message)."""
    name = os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND).strip() or DEFAULT_BACKEND
    if name not in KERAS_BACKENDS:
        raise HarnessError(f"KERAS_BACKEND={name!r}: expected one of {', '.join(KERAS_BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        raise HarnessError(f"KERAS_BACKEND={name} but {name} is not installed: {KERAS_BACKENDS[name]}")
    return name
