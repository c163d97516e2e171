"""The search space of the MLP head: 2-3 hidden layers, their width, dropout and activation, the optimizer
(SGD with momentum, or Adam), its learning rate (log scale) and the batch size."""

from __future__ import annotations

from typing import Any

import keras
import keras_tuner as kt
import numpy as np

HIDDEN = "hidden_{}"  # layer names; the last hidden layer's output is the top-tuned embedding


class HeadHyperModel(kt.HyperModel):
    def __init__(self, mean: np.ndarray, variance: np.ndarray, num_classes: int) -> None:
        """``mean`` and ``variance``: per-feature statistics of the training inputs, for standardisation."""
        super().__init__()
        self.mean, self.variance, self.num_classes = mean, variance, num_classes

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        inputs = keras.Input(shape=(len(self.mean),), name="embedding")
        # Standardise each feature with training statistics, inside the head so a saved head carries them.
        x = keras.layers.Normalization(mean=self.mean, variance=self.variance, name="standardise")(inputs)
        activation = hp.Choice("activation", ["relu", "gelu", "tanh"])
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        for i in range(1, hp.Int("hidden_layers", 2, 3) + 1):
            x = keras.layers.Dense(
                hp.Choice(f"units_{i}", [128, 256, 512]), activation=activation, name=HIDDEN.format(i)
            )(x)
            x = keras.layers.Dropout(dropout)(x)
        outputs = keras.layers.Dense(self.num_classes, activation="softmax", name="classifier")(x)
        model = keras.Model(inputs, outputs)
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        if hp.Choice("optimizer", ["sgd", "adam"]) == "sgd":
            with hp.conditional_scope("optimizer", ["sgd"]):
                optimizer: Any = keras.optimizers.SGD(learning_rate, momentum=hp.Float("momentum", 0.0, 0.95))
        else:
            optimizer = keras.optimizers.Adam(learning_rate)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128, 256]), **kwargs)


def hidden_model(head: keras.Model) -> keras.Model:
    """The head up to (and including) its last hidden layer: the top-tuned embedding."""
    last = max((layer for layer in head.layers if layer.name.startswith("hidden_")), key=lambda layer: layer.name)
    return keras.Model(head.inputs, last.output)
