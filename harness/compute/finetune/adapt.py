"""The adaptation ladder's fine-tune variants: how much of the backbone a fine-tune job trains.

A job's ``adaptation`` record (harness.compute.finetune.spec) names its method; the loop asks the method's
:class:`Adapter` to prepare the built model (freeze parts, wrap it in adapters) before the optimizer is made,
what trains at each epoch, and how the trained module becomes plain timm weights again (the done marker,
which the ``checkpoint:`` family loads like any fine-tune) plus the tensors a deployment has to store.

Choices, stated once:

- Blocks are timm's coarse parameter groups (``model.group_matcher(coarse=True)``): the stages of a CNN, the
  blocks of a ViT. The stem is the first group; the classifier (``get_classifier()``) always trains. ``lastk``
  with k >= the number of blocks trains the stem too: it is full fine-tuning, parameter for parameter.
- A frozen part keeps its batch-norm statistics: every batch-norm layer whose parameters are all frozen is put
  in eval mode after each ``train()`` (lastk's frozen blocks, LoRA's frozen base, LP-FT's probe phase), so
  freezing a block freezes what it computes, not only its weights.
- LoRA goes through peft's custom-model path (``get_peft_model`` with a ``LoraConfig`` and a target-module
  list), never a hand-written adapter. Default targets per architecture family: the attention's ``qkv`` and
  ``proj`` linears where the model has them (ViTs), else every non-grouped Conv2d and Linear inside the blocks
  (CNNs; peft's LoRA supports Conv2d; depthwise convolutions are left out). The head trains in full
  (``modules_to_save``).
- LP-FT is one job of ``probe_epochs + epochs`` epochs under one optimizer and one schedule: the probe epochs
  train the head alone (the backbone's gradients are None, so the optimizer leaves it exactly as loaded),
  then everything trains from the probed head. Its epoch checkpoints resume like any fine-tune's.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.compute.finetune.recipe import Recipe

VIT_TARGETS = re.compile(r"(^|\.)attn\.(qkv|proj)$")


def classifier_name(model: torch.nn.Module) -> str:
    """The module name of the model's classifier (``fc`` of a ResNet, ``head`` of a ViT)."""
    head = model.get_classifier()  # type: ignore[operator]
    for name, module in model.named_modules():
        if module is head and name:
            return name
    raise HarnessError(f"{type(model).__name__}: its classifier is not a named module; it cannot be adapted")


def block_groups(model: torch.nn.Module) -> tuple[list[str], list[list[str]]]:
    """(the stem's parameter names, each block's parameter names in order), the classifier's left out."""
    from timm.models import group_parameters

    matcher = getattr(model, "group_matcher", None)
    if matcher is None:
        raise HarnessError(f"{type(model).__name__} declares no blocks (timm's group_matcher): lastk cannot count them")
    head = classifier_name(model) + "."
    groups = group_parameters(model, matcher(coarse=True))
    named = [[n for n in groups[g] if not n.startswith(head)] for g in sorted(groups)]
    named = [names for names in named if names]
    has_stem = "stem" in matcher(coarse=True)
    return (named[0], named[1:]) if has_stem else ([], named)


def trainable_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_norm_statistics(model: torch.nn.Module) -> None:
    """Batch-norm layers whose parameters are all frozen stop updating their running statistics."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def _only(model: torch.nn.Module, names: set[str]) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)


@dataclass
class Adapter:
    """Full fine-tuning: everything trains; the base of the ladder's variants."""

    record: dict[str, Any] = field(default_factory=dict)
    #: trainable under DistributedDataParallel, which registers what requires gradients once, when it is built
    multi_process = True

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to train (frozen parts set, adapters added); called before the optimizer is made."""
        return model

    def epochs(self, recipe: Recipe) -> int:
        return recipe.epochs

    def at_epoch(self, model: torch.nn.Module, epoch: int) -> str:
        """Set what trains in ``epoch``; returns the phase's name (logged with the epoch)."""
        return "finetune"

    def final(
        self, trained: torch.nn.Module, result: torch.nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(the plain timm state dict of ``result``, the trained weights or their EMA; the tensors a deployment
        stores beside the pre-trained weights: those of every module that trained, the classifier left out).
        What trained is read from ``trained`` (an EMA copy's parameters never require gradients)."""
        head = classifier_name(trained) + "."
        modules = dict(result.named_modules())
        stored: dict[str, torch.Tensor] = {}
        for name, module in trained.named_modules():
            if any(p.requires_grad for p in module.parameters(recurse=False)) and not (name + ".").startswith(head):
                prefix = f"{name}." if name else ""
                state = modules[name].state_dict()
                stored.update({prefix + k: v for k, v in state.items() if "." not in k})
        return result.state_dict(), stored


@dataclass
class LastK(Adapter):
    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        k = int(self.record["k"])
        stem, blocks = block_groups(model)
        head = classifier_name(model) + "."
        chosen = {n for n, _ in model.named_parameters() if n.startswith(head)}
        chosen.update(n for block in (blocks[len(blocks) - k :] if k else []) for n in block)
        if k >= len(blocks):
            chosen.update(stem)
        _only(model, chosen)
        return model


@dataclass
class LoRA(Adapter):
    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        import peft

        written = str(self.record["lora_targets"])
        targets = [t.strip() for t in written.split(",") if t.strip()] if written else default_targets(model)
        names = {n for n, _ in model.named_modules()}
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing or not targets:
            raise HarnessError(f"lora_targets: no module of {type(model).__name__} is named {missing or written!r}")
        config = peft.LoraConfig(
            r=int(self.record["rank"]),
            lora_alpha=int(self.record["lora_alpha"]),
            target_modules=targets,
            modules_to_save=[classifier_name(model)],
        )
        return peft.get_peft_model(model, config)

    def final(
        self, trained: torch.nn.Module, result: torch.nn.Module
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The adapters merged into the backbone (plain timm weights); the adapter's tensors are what a
        deployment stores beside the pre-trained weights."""
        adapter = {n: p.detach() for n, p in result.named_parameters() if ".lora_" in n}
        merged = copy.deepcopy(result).merge_and_unload()  # type: ignore[operator]
        return merged.state_dict(), adapter


def default_targets(model: torch.nn.Module) -> list[str]:
    """The attention's qkv/proj linears (ViTs), else the blocks' non-grouped Conv2d and Linear layers (CNNs)."""
    modules = dict(model.named_modules())
    attention = [n for n, m in modules.items() if VIT_TARGETS.search(n) and isinstance(m, torch.nn.Linear)]
    if attention:
        return attention
    _, blocks = block_groups(model)
    in_blocks = {n.rpartition(".")[0] for block in blocks for n in block}
    return [
        n
        for n, m in modules.items()
        if n in in_blocks and (isinstance(m, torch.nn.Linear) or (isinstance(m, torch.nn.Conv2d) and m.groups == 1))
    ]


@dataclass
class LinearProbeThenFinetune(Adapter):
    head: set[str] = field(default_factory=set)
    multi_process = False  # its phases switch what requires gradients

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        prefix = classifier_name(model) + "."
        self.head = {n for n, _ in model.named_parameters() if n.startswith(prefix)}
        return model

    def epochs(self, recipe: Recipe) -> int:
        return int(self.record["probe_epochs"]) + recipe.epochs

    def at_epoch(self, model: torch.nn.Module, epoch: int) -> str:
        probing = epoch < int(self.record["probe_epochs"])
        for name, param in model.named_parameters():
            param.requires_grad_(not probing or name in self.head)
        return "probe" if probing else "finetune"


#: method (a strategy's name, harness.spec.strategies) -> its adapter; "" is full fine-tuning
ADAPTERS: dict[str, Callable[[dict[str, Any]], Adapter]] = {
    "": Adapter,
    "lastk": LastK,
    "lora": LoRA,
    "lpft": LinearProbeThenFinetune,
}


def adapter_for(adaptation: dict[str, Any]) -> Adapter:
    method = str(adaptation.get("method", ""))
    if method not in ADAPTERS:
        raise HarnessError(f"unknown fine-tune variant '{method}' (known: {', '.join(m for m in ADAPTERS if m)})")
    return ADAPTERS[method](adaptation)
