"""Published checkpoints onto timm architectures, by key layout (no weights can be downloaded here).

DINO-ResNet50 (facebookresearch/dino, ``torch.hub.load('facebookresearch/dino:main', 'dino_resnet50')``): its
hubconf builds torchvision's ``resnet50(pretrained=False)``, sets ``fc = Identity()`` and loads
``dino_resnet50_pretrain.pth`` (dl.fbaipublicfiles.com) into it, so the checkpoint holds torchvision's ResNet-50
keys without ``fc.*``. timm's ``resnet50`` without a head must have exactly those keys and shapes, so the real
DINO weights load into it with no renaming (the catalogue's SSL-ResNet50 stand-in can then be replaced).
"""

import torch
import torchvision

from harness.ids import parse_ref
from harness.models.timm_family import create


def test_dino_resnet50_checkpoint_keys_match_timm_resnet50_without_head() -> None:
    torch.manual_seed(0)
    published = torchvision.models.resnet50(weights=None)
    published.fc = torch.nn.Identity()  # as DINO's hubconf.py: the checkpoint has no fc
    want = {k: tuple(v.shape) for k, v in published.state_dict().items()}
    model = create(parse_ref("timm:resnet50[init=random]", "model"), "resnet50", pretrained=False, seed=0)
    model.reset_classifier(0)  # type: ignore[operator]
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert not any(k.startswith("fc.") for k in want)
    assert got == want
    result = model.load_state_dict(published.state_dict(), strict=True)  # raises on any renamed tensor
    assert not result.missing_keys and not result.unexpected_keys
