"""Text embeddings through a model's text tower, batched, under the cell's precision (autocast, as images).

``prompt_embeddings`` is CLIP_benchmark's ``zero_shot_classifier`` done once for any texts: each text formatted
by every template, each template's embedding L2-normalised, averaged over the templates, normalised again. One
template is a plain normalised text embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.extract.embeddings import forward_precision
from harness.compute.extract.vectors import l2_normalise
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.compute.models.base import EmbeddingModel, TextTower
    from harness.spec.settings import Extraction


def text_tower(model: EmbeddingModel) -> TextTower:
    """The model's text tower, or the error a text cell on an image-only backbone gets."""
    if model.text is None:
        raise HarnessError(
            f"model '{model.model_id}' has no text tower: the text suites need a text-image model "
            "(open_clip:...), not an image-only backbone"
        )
    return model.text


def text_embeddings(model: EmbeddingModel, texts: Sequence[str], settings: Extraction) -> np.ndarray:
    """(len(texts), D) float32 unnormalised embeddings, in order, ``settings.batch_size`` texts a forward."""
    import torch

    tower = text_tower(model)
    if not texts:
        raise HarnessError(f"no texts to embed with model '{model.model_id}'")
    device = torch.device(settings.device)
    tower.module.to(device).eval()
    chunks = []
    with torch.inference_mode(), forward_precision(settings):
        for start in range(0, len(texts), settings.batch_size):
            tokens = tower.tokenize(list(texts[start : start + settings.batch_size])).to(device)
            chunks.append(tower.embed(tokens).float().cpu().numpy())
    array = np.concatenate(chunks).astype(np.float32)
    if not np.isfinite(array).all():
        raise HarnessError(f"model '{model.model_id}' produced non-finite text embeddings")
    return array


def prompt_embeddings(
    model: EmbeddingModel, texts: Sequence[str], templates: Sequence[str], settings: Extraction
) -> np.ndarray:
    """(len(texts), D) float32 unit vectors: per text, the normalised mean of its normalised template embeddings."""
    prompts = [template.format(c=text) for text in texts for template in templates]
    each = l2_normalise(text_embeddings(model, prompts, settings)).reshape(len(texts), len(templates), -1)
    return l2_normalise(each.mean(axis=1))
