"""Grids as data: a suite file (TOML) names models, datasets, strategies and suites; cells are their product.

    [grid]
    models     = ["timm:resnet18[init=random]", "open_clip:ViT-S-32[init=random]"]
    datasets   = ["digits", "synthetic"]
    strategies = ["pretrained"]
    suites     = ["retrieval"]

    [params.retrieval]        # optional, per suite
    backend = "milvus"

Every id is checked before anything runs, so a typo fails in a second, not after an hour.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.shards import Cell
from harness.tomlfile import read_toml


def make_cells(
    models: list[str],
    datasets: list[str],
    strategies: list[str],
    suites: list[str],
    params: dict[str, dict[str, Any]] | None = None,
    pair_datasets: bool = False,
) -> list[Cell]:
    """Validate and canonicalise every id, then return the cells, grouped by model.

    With ``pair_datasets`` (suite files), a paired strategy given no partner gets one cell per dataset of the
    grid as its partner (cross-tuning's source); otherwise the partner must be given.
    """
    from harness.datasets import resolve_dataset
    from harness.models import parse_model_id
    from harness.suites import resolve_params
    from harness.suites.tuning import PAIRED

    params = params or {}
    unused = sorted(set(params) - set(suites))
    if unused:
        raise HarnessError(f"parameters given for suite(s) {', '.join(unused)} that the grid does not run")
    model_ids = [str(parse_model_id(m)) for m in models]
    dataset_ids = [resolve_dataset(d).id for d in datasets]

    def variants(suite: str, strategy: str) -> list[dict[str, Any]]:
        """One parameter set, or one per dataset of the grid for a paired strategy (cross-tuning's source)."""
        given = params.get(suite, {})
        paired = PAIRED.get(strategy)
        if paired is None or paired in given or not pair_datasets:
            return [resolve_params(suite, strategy, given)]
        return [resolve_params(suite, strategy, {**given, paired: d}) for d in dataset_ids]

    resolved = {(s, st): variants(s, st) for s in suites for st in strategies}
    return [
        Cell(model, dataset, strategy, suite, cell_params)
        for model, dataset, strategy, suite in itertools.product(model_ids, dataset_ids, strategies, suites)
        for cell_params in resolved[suite, strategy]
    ]


def load_grid(path: Path) -> list[Cell]:
    spec = read_toml(path, "suite file")
    grid = spec.get("grid")
    if not isinstance(grid, dict):
        raise HarnessError(f"suite file '{path}' has no [grid] table")
    missing = [key for key in ("models", "datasets", "suites") if not grid.get(key)]
    if missing:
        raise HarnessError(f"suite file '{path}': [grid] needs non-empty {', '.join(missing)}")
    try:
        return make_cells(
            grid["models"], grid["datasets"], grid.get("strategies", ["pretrained"]), grid["suites"],
            spec.get("params", {}), pair_datasets=True,
        )  # fmt: skip
    except HarnessError as exc:
        raise HarnessError(f"suite file '{path}': {exc}") from exc
