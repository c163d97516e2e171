"""Published checkpoints that timm does not ship, mapped onto a timm architecture (data; imports no torch).

Each entry names a file its authors publish at a URL, the timm architecture whose tensors it holds, how its
key names become timm's, and the evaluation preprocessing of the authors' own code. ``ecombench weights fetch``
downloads the file into torch hub's cache (``$TORCH_HOME/hub/checkpoints/<basename or cache_name>``), where the
``published:`` family (harness/compute/models/published_family.py) reads it offline with
``torch.load(weights_only=True)`` and loads it strictly, only the classifier head excepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import torch

    State = dict[str, torch.Tensor]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def evaluation(crop_pct: float, side: int = 224) -> dict[str, Any]:
    """torchvision's ``Resize(side / crop_pct, bicubic) + CenterCrop(side) + Normalize(ImageNet)`` in timm's terms."""
    return {"input_size": (3, side, side), "interpolation": "bicubic", "crop_pct": crop_pct, "crop_mode": "center",
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}  # fmt: skip


def same_names(source: State) -> State:
    """The checkpoint already uses timm's names (it was saved from the same module layout)."""
    return dict(source)


@dataclass(frozen=True)
class Published:
    """One published checkpoint.

    Attributes:
        url: where its authors publish the file; its basename is the name in torch hub's cache.
        architecture: the timm architecture its tensors fill (all of them but the classifier head).
        source: the code that documents the URL, layout and preprocessing (repository, file @ commit).
        licence: the weights' licence as their publisher states it.
        preprocessing: the authors' evaluation transform as timm pretrained-config fields (mean, std,
            interpolation, crop_pct, crop_mode, input_size), overlaid on the architecture's defaults.
        convert: source state dict -> the same tensors under timm's names (no tensor changes value).
        sha256: of the file, where its publisher gives one ("" when not: the load records the digest it read).
        cache_name: the file's name in torch hub's cache where the URL's basename is ambiguous (MAWS and MAE
            both publish a ``vit_b16.pt`` of the same layout: a stray one must not load as the other).
    """

    url: str
    architecture: str
    source: str
    licence: str
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    convert: Callable[[State], State] = same_names
    sha256: str = ""
    cache_name: str = ""

    @property
    def filename(self) -> str:
        return self.cache_name or self.url.rsplit("/", 1)[-1]


#: ``published:<architecture>@<tag>`` -> the checkpoint
CHECKPOINTS: dict[str, Published] = {
    # hubconf.py builds torchvision's resnet50, sets fc = Identity() and loads this file (strict=False only because
    # the file has no fc: github.com/facebookresearch/dino/issues/11); torchvision's ResNet-50 names are timm's
    # resnet50 names.
    "resnet50@dino": Published(
        url="https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth",
        architecture="resnet50",
        source="facebookresearch/dino hubconf.py (dino_resnet50), eval_linear.py "
        "@ 7c446df5b9f45747937fb0d72314eb9f7b66930a",
        licence="Apache-2.0",
        preprocessing=evaluation(crop_pct=0.875),
    ),
    # maws/model_builder.py builds timm's VisionTransformer(patch_size=16, embed_dim=768, depth=12, num_heads=12,
    # num_classes=0, img_size=224) (timm 0.9.7) and loads this file strictly: timm's own names, no head.
    "vit_base_patch16_224@maws": Published(
        url="https://dl.fbaipublicfiles.com/maws/pretrain/maws/vit_b16.pt",
        architecture="vit_base_patch16_224",
        source="facebookresearch/maws maws/model_builder.py (vit_b16, maws), maws/model.py get_image_transform "
        "@ cce939c47bd8f905bdb50732b445772690defcd4",
        licence="CC-BY-NC-4.0",
        preprocessing=evaluation(crop_pct=1.0),
        cache_name="maws_pretrain_maws_vit_b16.pt",
    ),
}


def lookup(architecture: str, tag: str, model_id: str) -> Published:
    """The checkpoint ``architecture@tag`` names, or one clear error listing the known ones."""
    entry = CHECKPOINTS.get(f"{architecture}@{tag}")
    if entry is None:
        known = ", ".join(f"published:{name}" for name in CHECKPOINTS)
        raise HarnessError(f"no published checkpoint '{architecture}@{tag}' (model id '{model_id}'); known: {known}")
    return entry
