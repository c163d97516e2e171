"""The signals suite: the cheap transferability signals of harness.compute.selection.signals (k-NN accuracy,
LogME, H-score, shrunk H-score), computed on the frozen pre-trained embeddings of a class-stratified sample of
the evaluated split and stored as ordinary metrics, one per signal, plus ``signal_images`` (the sample's size).

The sample is the one ``ecombench recommend`` draws for its first stage (harness.compute.selection.sampling,
``per_class`` images of each class, ``sample_seed``), so the report can score each signal's ranking of the
models against the grid's mMP@5 (harness.report.recommend). The embeddings are the split's cached ones: next to
a retrieval cell of the same model, this costs no forward pass.
"""

from __future__ import annotations

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.compute.selection.sampling import nested_sample, stratified_order
from harness.compute.selection.signals import SIGNALS
from harness.compute.suites import Context
from harness.compute.suites.declarations.signals import check_params
from harness.compute.suites.served import split_labels


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    check_params(p)
    labels = split_labels(ctx, p["split"])
    vectors, _ = split_embeddings(ctx.model, ctx.dataset, p["split"], ctx.cache, ctx.extraction)
    sample = nested_sample(stratified_order(labels, p["sample_seed"]), p["per_class"])
    x, y = np.asarray(vectors)[sample], labels[sample]
    return {**{name: float(signal(x, y)) for name, signal in SIGNALS.items()}, "signal_images": float(len(sample))}
