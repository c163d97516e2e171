"""Top-tuning: an MLP head searched with KerasTuner on frozen embeddings (Keras 3 on the torch backend).

Data flow: embeddings of the training split -> seeded stratified train/validation carve -> Bayesian search
-> the best configuration retrained with early stopping -> a saved head, cached by the top-tuning job's key
and shared by the classification suite (test-set metrics) and the retrieval suite's ``toptuned`` strategy
(the head's last hidden layer as the embedding).
"""

from __future__ import annotations

import os

# Keras picks its backend at import time; this package is the only place that imports Keras.
os.environ.setdefault("KERAS_BACKEND", "torch")
