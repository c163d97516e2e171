"""Grids as data: a suite file (TOML) names models, datasets, strategies and suites; cells are their product.

    [grid]
    models     = ["timm:resnet18[init=random]", "open_clip:ViT-S-32[init=random]"]
    datasets   = ["digits", "synthetic"]
    strategies = ["pretrained"]
    suites     = ["retrieval"]
    seeds      = [0, 1, 2]    # optional: cells that train (top-tune, fine-tune) once per seed

    [params.retrieval]        # optional, per suite
    backend = "milvus"

    [params.compression]      # a suite's sweeps parameters may be lists: one cell per value
    compression = ["fp32", "int8", "binary"]

    [grid.suite_datasets]     # optional: a suite's own datasets instead of the grid's
    classification = ["digits"]

    [grid]                    # optional extraction settings that change the numbers (--precision and
    precision = "bf16"        # --channels-last override them): fp32 (default), bf16 or fp16 autocast
    channels_last = true      # channels-last memory format (default false)

Models may be named by collection: ``"@paper"`` expands to the catalogue's entries whose ``collections``
include ``paper`` (harness/compute/models/catalog.toml; ``@all`` is the whole catalogue), or to the ids of a
``[collections]`` table of the suite file itself (``tiny = ["timm:test_resnet[init=random]", ...]``).

Dataset roots come from configuration: a ``[data]`` table of named folders, ``root`` the data folder and the
others usually relative to it, substituted into dataset ids written with ``{name}``:

    [data]
    root = "data"                                # --data-root DIR overrides
    sop  = "{root}/Stanford_Online_Products"     # --data sop=/mnt/sop overrides one dataset

    [grid]
    datasets = ["sop:{sop}"]

The resolved folders are part of every dataset id (hence of each run's ``dataset`` and rerun command).

Every id is checked before anything runs, so a typo fails in a second, not after an hour; so is every key
of the file (a misspelt ``strategy =`` or ``[parms]`` would otherwise silently run the defaults). A suite
combined with a strategy it does not accept is skipped, and the plan lists the pair; so is a text suite's cell
whose model has no text tower or whose dataset has not the texts it reads, with the reason.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.tomlfile import read_toml
from harness.plan.plan import Skipped
from harness.spec.cells import Cell

GRID_KEYS = {"models": True, "datasets": True, "suites": True, "strategies": False, "seeds": False}  # -> required
GRID_TABLES = ("suite_datasets",)  # [grid.suite_datasets]: suite -> its own datasets
#: [grid] extraction settings that change the numbers -> their type (they enter the cell key where not defaults)
GRID_SETTINGS: dict[str, type] = {"precision": str, "channels_last": bool}
FILE_KEYS = ("grid", "params", "data", "collections")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class Grid:
    cells: list[Cell]
    skipped: list[Skipped] = field(default_factory=list)
    #: the suite file's data folders after substitution and overrides (name -> path)
    data: dict[str, str] = field(default_factory=dict)
    #: the suite file's extraction settings (precision, channels_last) as given; the CLI's options win
    extraction: dict[str, Any] = field(default_factory=dict)


def expand_models(models: list[str], local: dict[str, list[str]]) -> list[str]:
    """``@name`` entries replaced by their collection's ids (the suite file's own first, then the
    catalogue's); duplicates dropped, order kept."""
    from harness.compute.models import collections

    known = {**collections(), **local}
    out: list[str] = []
    for model in models:
        if model.startswith("@"):
            if model[1:] not in known:
                raise HarnessError(f"unknown model collection '{model}' (known: {', '.join('@' + k for k in known)})")
            out.extend(known[model[1:]])
        else:
            out.append(model)
    return list(dict.fromkeys(out))


def resolve_data(table: dict[str, Any], root: str | None, overrides: dict[str, str]) -> dict[str, str]:
    """The ``[data]`` folders with ``--data-root`` and ``--data NAME=PATH`` applied, ``{root}`` substituted,
    made absolute (relative to the working directory), so that a cell's dataset id names one folder."""
    unknown = sorted(set(overrides) - set(table) - {"root"})
    if unknown:
        known = ", ".join(sorted({"root", *table}))
        names = ", ".join(unknown)
        raise HarnessError(f"--data {names}: the suite file's [data] names no such folder (known: {known})")
    values = {**{k: str(v) for k, v in table.items()}, **overrides, **({"root": root} if root else {})}
    resolved = {name: _substitute(value, {k: v for k, v in values.items() if k != name}, f"[data] {name}")
                for name, value in values.items()}  # fmt: skip
    return {name: str(Path(path).expanduser().absolute()) for name, path in resolved.items()}  # cwd-independent


def _substitute(text: str, values: dict[str, str], what: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            hint = " (give --data-root DIR or [data] root = ...)" if name == "root" else ""
            raise HarnessError(f"{what} '{text}' names {{{name}}}, which [data] does not define{hint}")
        return PLACEHOLDER.sub(one, values[name]) if name != "root" else values[name]

    return PLACEHOLDER.sub(one, text)


def make_cells(
    models: list[str],
    datasets: list[str],
    strategies: list[str],
    suites: list[str],
    params: dict[str, dict[str, Any]] | None = None,
    pair_datasets: bool = False,
    suite_datasets: dict[str, list[str]] | None = None,
    seeds: list[int] | None = None,
) -> Grid:
    """Validate and canonicalise every id, then return the cells, grouped by model.

    With ``pair_datasets`` (suite files), a paired strategy given no partner gets one cell per dataset of the
    grid as its partner (cross-tuning's source), and a (suite, strategy) pair the suite does not accept is
    skipped; otherwise the partner must be given and every pair must be accepted. ``suite_datasets`` gives a
    suite its own datasets instead of the grid's (classification needs training and test splits that share
    their classes, which metric-learning splits do not). With ``seeds``, every cell that trains something (it
    has a ``seed`` parameter: a top-tune search, a fine-tune) is repeated per seed, so training noise can be
    told from evaluation noise; the others run once.
    """
    from harness.compute.datasets import resolve_dataset
    from harness.compute.models import parse_model_id
    from harness.compute.suites import accepts, get_suite, resolve_params
    from harness.spec.strategies import get_strategy

    params = params or {}
    unused = sorted(set(params) - set(suites))
    if unused:
        raise HarnessError(f"parameters given for suite(s) {', '.join(unused)} that the grid does not run")
    model_ids = [str(parse_model_id(m)) for m in models]
    dataset_ids = [resolve_dataset(d).id for d in datasets]
    extra = sorted(set(suite_datasets or {}) - set(suites))
    if extra:
        raise HarnessError(f"datasets given for suite(s) {', '.join(extra)} that the grid does not run")
    of_suite = {s: [resolve_dataset(d).id for d in ds] for s, ds in (suite_datasets or {}).items()}
    for name in strategies:
        get_strategy(name)
    skipped = []
    pairs = []
    for suite, strategy in itertools.product(suites, strategies):
        if pair_datasets and not accepts(suite, strategy):
            accepted = ", ".join(get_suite(suite).strategies)
            skipped.append(Skipped(suite, strategy, f"suite '{suite}' accepts only {accepted}"))
        else:
            pairs.append((suite, strategy))

    def variants(suite: str, strategy: str) -> list[dict[str, Any]]:
        """One parameter set (per value of a swept parameter), or one per dataset of the grid for a paired
        strategy (cross-tuning's source)."""
        paired = get_strategy(strategy).paired
        out = []
        for given in swept(suite, params.get(suite, {})):
            if paired is None or paired in given or not pair_datasets:
                out.append(resolve_params(suite, strategy, given))
            else:
                out += [resolve_params(suite, strategy, {**given, paired: d}) for d in of_suite.get(suite, dataset_ids)]
        # a sweep of another strategy's parameter (wiseft's alpha) leaves this strategy's cells alike: once each
        return list({json.dumps(v, sort_keys=True): v for v in out}.values())

    def seeded(variant: dict[str, Any]) -> list[dict[str, Any]]:
        if not seeds or "seed" not in variant:
            return [variant]
        return [{**variant, "seed": seed} for seed in seeds]

    resolved = {pair: [p for v in variants(*pair) for p in seeded(v)] for pair in pairs}
    every = list(dict.fromkeys(dataset_ids + [d for ds in of_suite.values() for d in ds]))
    cells = [
        Cell(model, dataset, strategy, suite, cell_params)
        for model, dataset, (suite, strategy) in itertools.product(model_ids, every, pairs)
        if dataset in of_suite.get(suite, dataset_ids)
        for cell_params in resolved[suite, strategy]
    ]
    if pair_datasets:
        cells = _with_texts(_trainable(cells, skipped), skipped)
    return Grid(cells, skipped)


def swept(suite: str, given: dict[str, Any]) -> list[dict[str, Any]]:
    """A suite's ``sweeps`` parameters, and those of the strategies it accepts (wiseft's ``alpha``), given as lists
    (``compression = ["fp32", "int8"]``): one parameter set per combination, in order; any other parameter set as
    given."""
    from harness.compute.suites import get_suite
    from harness.spec.strategies import STRATEGIES

    declared = get_suite(suite)
    sweeps = dict.fromkeys([*declared.sweeps, *(k for s in declared.strategies for k in STRATEGIES[s].sweeps)])
    names = [k for k in sweeps if isinstance(given.get(k), list)]
    empty = [k for k in names if not given[k]]
    if empty:
        raise HarnessError(f"parameter {empty[0]} of suite '{suite}' is an empty list: it would run no cell")
    return [
        {**given, **dict(zip(names, values, strict=True))} for values in itertools.product(*(given[k] for k in names))
    ]


def _trainable(cells: list[Cell], skipped: list[Skipped]) -> list[Cell]:
    """Cells whose fine-tune the model's family cannot train (only timm architectures can) are skipped, one
    line per (model, suite, strategy) in the plan."""
    from harness.compute.models import FAMILIES, parse_model_id
    from harness.spec.strategies import get_strategy

    kept, seen = [], set()
    for cell in cells:
        tuning = get_strategy(cell.strategy).tuning_of(cell.params)
        if tuning == "finetuned" and not FAMILIES[parse_model_id(cell.model).kind].timm_architecture:
            if (cell.model, cell.suite, cell.strategy) not in seen:
                seen.add((cell.model, cell.suite, cell.strategy))
                reason = f"{cell.model} cannot be fine-tuned (only timm architectures can)"
                skipped.append(Skipped(cell.suite, cell.strategy, reason))
            continue
        kept.append(cell)
    return kept


def _with_texts(cells: list[Cell], skipped: list[Skipped]) -> list[Cell]:
    """Cells reading texts (harness.spec.suites.Suite.text_fields) whose model has no text tower, or whose
    dataset declares no such text field, are skipped, one line per (model or dataset, suite, strategy)."""
    from harness.compute.datasets import resolve_dataset
    from harness.compute.models import FAMILIES, parse_model_id
    from harness.compute.suites import get_suite

    kept, seen = [], set()
    for cell in cells:
        fields = get_suite(cell.suite).texts_needed(cell.params)
        reason = ""
        if fields and not FAMILIES[parse_model_id(cell.model).kind].text_tower:
            reason = f"{cell.model} has no text tower (the text suites need a text-image model, e.g. open_clip)"
        elif missing := [f for f in fields if f not in resolve_dataset(cell.dataset).text_fields()]:
            declared = ", ".join(resolve_dataset(cell.dataset).text_fields()) or "none"
            reason = f"{cell.dataset} has no text field '{missing[0]}' (its text fields: {declared})"
        if not reason:
            kept.append(cell)
        elif (reason, cell.suite, cell.strategy) not in seen:
            seen.add((reason, cell.suite, cell.strategy))
            skipped.append(Skipped(cell.suite, cell.strategy, reason))
    return kept


def load_grid(path: Path, data_root: str | None = None, data: dict[str, str] | None = None) -> Grid:
    """The cells of a suite file; ``data_root`` and ``data`` override its ``[data]`` folders."""
    spec = read_toml(path, "suite file")
    grid = spec.get("grid")
    if not isinstance(grid, dict):
        raise HarnessError(f"suite file '{path}' has no [grid] table")
    grid_table: dict[str, Any] = grid
    unknown = [f"[{k}]" for k in spec if k not in FILE_KEYS]
    unknown += [f"grid.{k}" for k in grid if k not in GRID_KEYS and k not in GRID_TABLES and k not in GRID_SETTINGS]
    if unknown:
        raise HarnessError(
            f"suite file '{path}': unknown key(s) {', '.join(unknown)} "
            f"(known: [grid] with {', '.join([*GRID_KEYS, *GRID_SETTINGS])}; [params.<suite>]; [data]; [collections])"
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
    table, local, own = spec.get("data", {}), spec.get("collections", {}), grid.get("suite_datasets", {})
    if not isinstance(own, dict) or not all(
        isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in own.values()
    ):
        raise HarnessError(f"suite file '{path}': [grid.suite_datasets] must map suites to non-empty lists of ids")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise HarnessError(f"suite file '{path}': [data] must map names to folders (text)")
    if not isinstance(local, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in local.values()
    ):
        raise HarnessError(f"suite file '{path}': [collections] must map names to lists of model ids")
    try:
        extraction = _extraction(grid_table)
        folders = resolve_data(table, data_root, data or {})
        datasets = [_substitute(d, folders, "dataset id") for d in lists["datasets"]]
        per_suite = {suite: [_substitute(d, folders, "dataset id") for d in ids] for suite, ids in own.items()}
        models = expand_models(lists["models"], local)
        grid = make_cells(
            models,
            datasets,
            lists["strategies"],
            lists["suites"],
            params,
            pair_datasets=True,
            suite_datasets=per_suite,
            seeds=sorted(set(seeds)),
        )
        grid.data = folders
        grid.extraction = extraction
        return grid
    except HarnessError as exc:
        raise HarnessError(f"suite file '{path}': {exc}") from exc


def _extraction(table: dict[str, Any]) -> dict[str, Any]:
    """The [grid] extraction settings, checked: precision one of harness.core.precision's, channels_last a bool."""
    from harness.core.precision import PRECISIONS

    given = {key: table[key] for key in GRID_SETTINGS if key in table}
    for key, kind in GRID_SETTINGS.items():
        if key in given and type(given[key]) is not kind:
            raise HarnessError(f"grid.{key} = {given[key]!r} must be {'true or false' if kind is bool else 'text'}")
    if "precision" in given and given["precision"] not in PRECISIONS:
        raise HarnessError(f"grid.precision = {given['precision']!r}: expected one of {', '.join(PRECISIONS)}")
    return given
