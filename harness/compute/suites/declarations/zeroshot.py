"""The zeroshot suite's declaration; its run() is harness.compute.suites.zeroshot."""

from __future__ import annotations

from typing import Any

from harness.spec.suites import Suite

#: ``templates``: a set of harness/presets/templates.toml (an ensemble, as CLIP_benchmark) or one template
DEFAULTS: dict[str, Any] = {"templates": "photo", "split": "test"}


def check_params(params: dict[str, Any]) -> None:
    from harness.compute.text.templates import resolve_templates

    resolve_templates(params["templates"])


SUITE = Suite(
    name="zeroshot",
    description="zero-shot classification of the evaluation split by class-name prompts (acc1, acc5, balanced acc)",
    run_module="harness.compute.suites.zeroshot",
    defaults=DEFAULTS,
    strategies=("pretrained",),
    sweeps=("templates",),
    check_params=check_params,
    text_fields=lambda params: ("class",),
)
