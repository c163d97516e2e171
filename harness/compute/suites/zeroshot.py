"""The zeroshot suite: classify the evaluation split by the similarity of each image to its classes' prompts.

The candidate classes are those of the evaluated split, named by the dataset's ``class`` texts; a class's vector
is its prompts' ensemble (harness.compute.text.encode.prompt_embeddings, CLIP_benchmark's
``zero_shot_classifier``); an image's scores are its L2-normalised embedding's dot products with them, the
prediction their argmax. Per image: acc1 (the true class ranks first), acc5 (within the first five; only with
five classes or more), and the balanced-accuracy term correct * N / (C * n_class), whose mean is the balanced
accuracy (the mean of per-class recalls, scikit-learn's ``balanced_accuracy_score``).
"""

from __future__ import annotations

import numpy as np

from harness.compute.datasets.base import CLASS_FIELD
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.suites import Context, per_query
from harness.compute.text.encode import prompt_embeddings, text_tower
from harness.compute.text.templates import resolve_templates
from harness.core.errors import HarnessError

TOP = 5


def ranked_classes(images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N, C) class positions per image, best first (ties by class position): the scores' descending order."""
    scores = l2_normalise(images) @ classes.T
    return np.argsort(-scores, axis=1, kind="stable")


def per_image(ranked: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Each image's acc1, acc5 (with at least 5 classes) and balanced-accuracy term, float64."""
    n, c = ranked.shape
    values = {"zeroshot_acc1": (ranked[:, 0] == truth).astype(np.float64)}
    if c >= TOP:
        values["zeroshot_acc5"] = (ranked[:, :TOP] == truth[:, None]).any(axis=1).astype(np.float64)
    per_class = np.bincount(truth, minlength=c)
    values["zeroshot_balanced_accuracy"] = values["zeroshot_acc1"] * n / (len(np.unique(truth)) * per_class[truth])
    return values


def run(ctx: Context) -> dict[str, float]:
    split = ctx.params["split"]
    tower = text_tower(ctx.model)
    templates = resolve_templates(ctx.params["templates"])
    manifest = ctx.dataset.manifest()
    indices = manifest.indices(split)
    labels = np.asarray(manifest.labels(indices))
    present = np.unique(labels)
    if len(present) < 2:
        raise HarnessError(f"split '{split}' of '{ctx.dataset.id}' has one class: zero-shot needs 2 or more")
    texts = ctx.dataset.texts(CLASS_FIELD)
    name_of = {manifest.items[i].label: texts.by_key[manifest.items[i].key] for i in indices}
    names = [name_of[label] for label in present]
    images, _ = split_embeddings(ctx.model, ctx.dataset, split, ctx.cache, ctx.extraction)
    classes = prompt_embeddings(ctx.model, names, templates, ctx.extraction)
    values = per_image(ranked_classes(images, classes), np.searchsorted(present, labels))
    ctx.details["texts"] = {"field": texts.field, "language": texts.language, "digest": texts.digest,
                            "templates": list(templates), "tokenizer": tower.tokenizer,
                            "text_weights": tower.weights_digest}  # fmt: skip
    return {
        **{name: float(v.mean()) for name, v in values.items()},
        **per_query.record(ctx, np.arange(len(labels)), values),
        "zeroshot_n_classes": float(len(present)),
        "zeroshot_n_test": float(len(labels)),
    }
