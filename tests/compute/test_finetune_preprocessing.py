"""A fine-tune keeps its starting point's preprocessing: a ``published:`` backbone trains and validates with its
authors' evaluation transform (not timm's default tag of the bare architecture), the finished checkpoint
records it, and its ``checkpoint:`` model embeds with it; a user's checkpoint without the record keeps timm's
default. Real timm ResNet-50s at random init on 32-pixel digits, one epoch of a few batches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import timm
import timm.data
import torch
from safetensors.torch import load_file, save_file

from harness.compute.datasets import resolve_dataset
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.finetune import checkpoints
from harness.compute.finetune.data import transforms
from harness.compute.finetune.job import run_job
from harness.compute.finetune.recipe import Recipe
from harness.compute.finetune.spec import JobSpec, read_spec
from harness.compute.models import load_model
from harness.compute.models.base import EmbeddingModel
from harness.compute.models.checkpoint_family import PREPROCESSING_FIELDS
from harness.compute.models.published import CHECKPOINTS
from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.plan.identity import Identities, subjobs
from harness.spec.cells import Cell

DINO = "published:resnet50@dino[init=random]"
DATA = "digits[per_class=2]"
#: one short epoch: 18 images in batches of 2, no held-out split, no augmentation to speak of
TINY = {"epochs": 1, "warmup_epochs": 0, "val_fraction": 0.0, "ema_decay": 0.0, "rand_augment": "", "mixup": 0.0,
        "cutmix": 0.0, "drop_path": 0.0}  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def resolved(model: torch.nn.Module) -> dict[str, object]:
    return dict(timm.data.resolve_model_data_config(model))


def settings(preprocessing: dict[str, object]) -> dict[str, object]:
    """The timm data-config fields of an ``EmbeddingModel.preprocessing`` (it also names the library and source)."""
    return {name: preprocessing[name] for name in PREPROCESSING_FIELDS}


def default_config(architecture: str) -> dict[str, object]:
    """What timm resolves for the bare architecture (its default tag): what a fine-tune used before the fix."""
    cfg = timm.models.get_pretrained_cfg(architecture)
    assert cfg is not None
    return dict(timm.data.resolve_data_config(pretrained_cfg=cfg.to_dict()))


def tiny_spec(model_id: str) -> tuple[JobSpec, EmbeddingModel]:
    base = load_model(model_id)
    spec = JobSpec.plan(base, resolve_dataset(DATA), "mini", seed=0)
    return dataclasses.replace(spec, recipe={**spec.recipe, **TINY}), base


@pytest.mark.slow
def test_a_published_finetune_trains_and_embeds_with_the_authors_preprocessing(tmp_path: Path) -> None:
    authors = dict(CHECKPOINTS["resnet50@dino"].preprocessing)
    default = default_config("resnet50")
    assert authors != default and (authors["crop_pct"], default["crop_pct"]) == (0.875, 0.95)  # a test that can fail

    spec, base = tiny_spec(DINO)
    model = spec.build_model()
    assert spec.architecture == "resnet50" and resolved(model) == authors
    _, val = transforms(model, Recipe.from_dict(spec.recipe, "test"))
    [resize] = [t for t in val.transforms if type(t).__name__ == "Resize"]
    assert resize.size == 36  # floor(32 / 0.875): DINO's crop at the recipe's 32 pixels; timm's 0.95 gives 33
    assert spec.preprocessing == json.loads(json.dumps(authors))  # recorded in job.json

    job_dir = tmp_path / "finetune" / "job"
    meta = run_job(spec, job_dir, "cpu", gpus=1)
    final = job_dir / "final.safetensors"
    assert meta["preprocessing"] == spec.preprocessing == read_spec(job_dir).preprocessing
    tuned = load_model(f"checkpoint:resnet50@{final}")
    assert settings(tuned.preprocessing) == authors and resolved(tuned.module) == authors
    assert settings(tuned.preprocessing) == settings(base.preprocessing)  # the same as the starting point's

    # the same tensors without the record: a user's own checkpoint, timm's default as before, and another
    # embedding cache entry (same id, same weights digest: only the preprocessing tells them apart)
    plain = tmp_path / "plain.safetensors"
    save_file(load_file(str(final)), str(plain))
    user = load_model(f"checkpoint:resnet50@{plain}")
    assert settings(user.preprocessing) == default and user.weights_digest == tuned.weights_digest
    manifest = resolve_dataset(DATA).manifest()
    keys = {EmbeddingCache.key(user, manifest, "test", "cpu")}
    save_file(load_file(str(final)), str(plain), metadata={checkpoints.META_KEY: json.dumps(meta)})
    recorded = load_model(f"checkpoint:resnet50@{plain}")
    assert settings(recorded.preprocessing) == authors and recorded.model_id == user.model_id
    keys.add(EmbeddingCache.key(recorded, manifest, "test", "cpu"))
    assert len(keys) == 2


def test_a_timm_tag_keeps_its_own_preprocessing_through_a_finetune() -> None:
    """``timm:resnet50.tv_in1k``: the tag is part of the architecture (and of the ``checkpoint:`` id made from
    it), so the bare architecture already resolved the tag's config (bilinear, 0.875): the record changes nothing."""
    spec, _ = tiny_spec("timm:resnet50.tv_in1k[init=random]")
    assert spec.architecture == "resnet50.tv_in1k"
    tv = default_config("resnet50.tv_in1k")
    assert tv["interpolation"] == "bilinear" and tv != default_config("resnet50")
    assert resolved(spec.build_model()) == tv
    assert resolved(timm.create_model(spec.architecture, pretrained=False)) == tv  # as before the record


def test_finetune_job_keys_change_for_published_starting_points_only() -> None:
    """Fine-tunes of published backbones finished before the fix trained with timm's default config: a new
    key, so they are not reused. Every other family's job key is the one computed before (the same fields)."""
    ids = Identities("cpu")

    def keys(model: str) -> tuple[str, str]:
        cell = Cell(model, DATA, "finetuned", "finetune", {"finetune_preset": "smoke", "seed": 0, "gpus": 1})
        [job] = subjobs(cell, ids)
        before = content_key(
            {"model": ids.model(model), "dataset": ids.dataset(DATA), "recipe": ids.recipe("smoke"), "seed": 0,
             "device": "cpu"}
        )  # fmt: skip
        return job.key, before

    now, before = keys("timm:test_resnet[init=random]")
    assert now == before
    now, before = keys(DINO)
    assert now != before


def test_a_recorded_preprocessing_that_timm_does_not_know_is_one_clear_error(tmp_path: Path) -> None:
    state = timm.create_model("test_resnet", pretrained=False).state_dict()
    path = tmp_path / "odd.safetensors"
    for record, message in [
        ({"crop_pcnt": 0.9}, r"records unknown preprocessing field\(s\) \['crop_pcnt'\] \(known: input_size"),
        ([0.9], r"records its preprocessing as \[0.9\], not a table"),
    ]:
        save_file(state, str(path), metadata={checkpoints.META_KEY: json.dumps({"preprocessing": record})})
        with pytest.raises(HarnessError, match=message):
            load_model(f"checkpoint:test_resnet@{path}")
    save_file(state, str(path), metadata={checkpoints.META_KEY: json.dumps({"preprocessing": {"crop_pct": 0.5}})})
    assert load_model(f"checkpoint:test_resnet@{path}").preprocessing["crop_pct"] == 0.5  # a partial record overlays
    save_file(state, str(path))  # none: timm's default, as before
    assert settings(load_model(f"checkpoint:test_resnet@{path}").preprocessing) == default_config("test_resnet")
