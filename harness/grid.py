"""Grids as data: a suite file (TOML) names models, datasets, strategies and suites; cells are their product.

    [grid]
    models     = ["timm:resnet18[init=random]", "open_clip:ViT-S-32[init=random]"]
    datasets   = ["digits", "synthetic"]
    strategies = ["pretrained"]
    suites     = ["retrieval"]
    seeds      = [0, 1, 2]    # optional: cells that train (top-tune, fine-tune) once per seed

    [params.retrieval]        # optional, per suite
    backend = "milvus"

Every id is checked before anything runs, so a typo fails in a second, not after an hour; so is every key
of the file (a misspelt ``strategy =`` or ``[parms]`` would otherwise silently run the defaults). A suite
combined with a strategy it does not accept is skipped, and the plan lists the pair.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cells import Cell
from harness.errors import HarnessError
from harness.plan import Skipped
from harness.tomlfile import read_toml

GRID_KEYS = {"models": True, "datasets": True, "suites": True, "strategies": False, "seeds": False}  # -> required
FILE_KEYS = ("grid", "params")


@dataclass
class Grid:
    cells: list[Cell]
    skipped: list[Skipped] = field(default_factory=list)


def make_cells(
    models: list[str],
    datasets: list[str],
    strategies: list[str],
    suites: list[str],
    params: dict[str, dict[str, Any]] | None = None,
    pair_datasets: bool = False,
    seeds: list[int] | None = None,
) -> Grid:
    """Validate and canonicalise every id, then return the cells, grouped by model.

    With ``pair_datasets`` (suite files), a paired strategy given no partner gets one cell per dataset of the
    grid as its partner (cross-tuning's source), and a (suite, strategy) pair the suite does not accept is
    skipped; otherwise the partner must be given and every pair must be accepted. With ``seeds``, every cell
    that trains something (it has a ``seed`` parameter: a top-tune search, a fine-tune) is repeated per seed,
    so training noise can be told from evaluation noise; the others run once.
    """
    from harness.datasets import resolve_dataset
    from harness.models import parse_model_id
    from harness.strategies import get_strategy
    from harness.suites import accepts, get_suite, resolve_params

    params = params or {}
    unused = sorted(set(params) - set(suites))
    if unused:
        raise HarnessError(f"parameters given for suite(s) {', '.join(unused)} that the grid does not run")
    model_ids = [str(parse_model_id(m)) for m in models]
    dataset_ids = [resolve_dataset(d).id for d in datasets]
    for name in strategies:
        get_strategy(name)
    skipped = []
    pairs = []
    for suite, strategy in itertools.product(suites, strategies):
        if pair_datasets and not accepts(suite, strategy):
            accepted = ", ".join(get_suite(suite).STRATEGIES)
            skipped.append(Skipped(suite, strategy, f"suite '{suite}' accepts only {accepted}"))
        else:
            pairs.append((suite, strategy))

    def variants(suite: str, strategy: str) -> list[dict[str, Any]]:
        """One parameter set, or one per dataset of the grid for a paired strategy (cross-tuning's source)."""
        given = params.get(suite, {})
        paired = get_strategy(strategy).paired
        if paired is None or paired in given or not pair_datasets:
            return [resolve_params(suite, strategy, given)]
        return [resolve_params(suite, strategy, {**given, paired: d}) for d in dataset_ids]

    def seeded(variant: dict[str, Any]) -> list[dict[str, Any]]:
        if not seeds or "seed" not in variant:
            return [variant]
        return [{**variant, "seed": seed} for seed in seeds]

    resolved = {pair: [p for v in variants(*pair) for p in seeded(v)] for pair in pairs}
    cells = [
        Cell(model, dataset, strategy, suite, cell_params)
        for model, dataset, (suite, strategy) in itertools.product(model_ids, dataset_ids, pairs)
        for cell_params in resolved[suite, strategy]
    ]
    return Grid(cells, skipped)


def load_grid(path: Path) -> Grid:
    spec = read_toml(path, "suite file")
    grid = spec.get("grid")
    if not isinstance(grid, dict):
        raise HarnessError(f"suite file '{path}' has no [grid] table")
    unknown = [f"[{k}]" for k in spec if k not in FILE_KEYS] + [f"grid.{k}" for k in grid if k not in GRID_KEYS]
    if unknown:
        raise HarnessError(
            f"suite file '{path}': unknown key(s) {', '.join(unknown)} "
            f"(known: [grid] with {', '.join(GRID_KEYS)}; [params.<suite>])"
        )
    missing = [key for key, required in GRID_KEYS.items() if required and not grid.get(key)]
    if missing:
        raise HarnessError(f"suite file '{path}': [grid] needs non-empty {', '.join(missing)}")
    seeds = grid.get("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        raise HarnessError(f"suite file '{path}': grid.seeds must be a list of integers, e.g. seeds = [0, 1, 2]")
    lists = {key: grid.get(key, ["pretrained"] if key == "strategies" else []) for key in GRID_KEYS if key != "seeds"}
    bad = [k for k, v in lists.items() if not isinstance(v, list) or not all(isinstance(x, str) for x in v)]
    params = spec.get("params", {})
    if bad or not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        what = ", ".join(f"grid.{k}" for k in bad) or "[params]"
        raise HarnessError(f"suite file '{path}': {what} must be a list of ids (params: tables per suite)")
    try:
        return make_cells(
            lists["models"], lists["datasets"], lists["strategies"], lists["suites"], params, True, sorted(set(seeds))
        )
    except HarnessError as exc:
        raise HarnessError(f"suite file '{path}': {exc}") from exc
