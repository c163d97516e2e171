"""Published checkpoints on timm architectures: ``published:<timm architecture>@<tag>``, e.g.
``published:resnet50@dino`` (the registry: harness/compute/models/published.py).

The file is read offline from torch hub's cache with ``torch.load(weights_only=True)`` (no pickled code runs),
renamed to timm's names and loaded strictly but for the classifier head; the preprocessing is the authors'
evaluation transform, set as the model's timm pretrained config so that timm resolves it like any other.
"""

from __future__ import annotations

import torch

from harness.compute.models import timm_family
from harness.compute.models.base import EmbeddingModel, init_options
from harness.compute.models.checkpoint_family import load_body, read_state
from harness.compute.models.published import Published, lookup
from harness.compute.models.weights import published_cached as cached
from harness.compute.models.weights import torch_hub_dir
from harness.core.errors import HarnessError
from harness.core.keys import file_sha256
from harness.spec.ids import Ref, check_options

OPTIONS = {"init", "seed"}


def fetch_command(entry: Published) -> str:
    """The one-line download into torch hub's cache (what ``ecombench weights fetch`` runs)."""
    return (
        "import os, torch; d = os.path.join(torch.hub.get_dir(), 'checkpoints'); os.makedirs(d, exist_ok=True); "
        f"torch.hub.download_url_to_file({entry.url!r}, os.path.join(d, {entry.filename!r}))"
    )


def build(ref: Ref, entry: Published, seed: int) -> torch.nn.Module:
    """The timm architecture without a head, its pretrained config carrying the authors' preprocessing."""
    model = timm_family.create(
        ref, entry.architecture, pretrained=False, seed=seed, pretrained_cfg_overlay=dict(entry.preprocessing)
    )
    model.reset_classifier(0)  # type: ignore[operator]  # the embedding is the pre-logits feature
    return model


def mapped_state(entry: Published, source: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint under timm's names; a BatchNorm step counter the file lacks is the model's own (it
    changes no output in evaluation)."""
    state = entry.convert(source)
    for key, tensor in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = tensor
    return state


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    random_init, seed = init_options(ref)
    architecture, tag = ref.split_at()
    entry = lookup(architecture, tag, str(ref))
    files = [] if random_init else cached(entry)
    if not random_init and not files:
        raise missing_file_error(ref, entry)
    model = build(ref, entry, seed)
    extra: dict[str, str] = {}
    if files:
        path = files[0]
        digest = file_sha256(path)
        if entry.sha256 and digest != entry.sha256:
            raise HarnessError(
                f"'{path}' (model '{ref}') has sha256 {digest}, not the published {entry.sha256}: "
                "delete it and fetch again"
            )
        source = read_state(path)
        load_body(model, mapped_state(entry, source, model), f"published checkpoint '{path}'")
        extra = {"source_sha256": digest, "source_url": entry.url}
    return timm_family.embedding_model(
        ref, model, random_init, source={"weights": entry.url if files else "random init"}, extra=extra
    )


def missing_file_error(ref: Ref, entry: Published) -> HarnessError:
    home = torch_hub_dir() / entry.filename
    return HarnessError(
        f"pretrained weights for model '{ref}' are not in the local cache ({home})\n"
        f"Fetch them once on a machine with internet access: `ecombench weights fetch SUITE` or "
        f'python -c "{fetch_command(entry)}"\n'
        f"(or run with '{ref.kind}:{ref.name}[init=random]' for a smoke test on random weights)"
    )
