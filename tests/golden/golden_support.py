"""How the golden tests capture today's observable behaviour; ``regenerate.py`` writes what these return into
``fixtures/`` and the tests compare the same captures against those files.

Everything here is deterministic: no machine path, clock or CPU model reaches a captured value (the cost
suite's hardware is pinned by hand, temporary folders are rewritten to ``<tmp>``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import numpy as np
import PIL
import typer
from typer.testing import CliRunner

import harness
from harness.cli import app
from harness.compute.datasets.base import Item, Manifest
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.extract.image_cache import SplitTransform, entry_key
from harness.plan.grid import load_grid
from harness.plan.identity import Identities
from harness.plan.plan import make_plan
from harness.spec.cells import Cell
from harness.storage import store
from harness.storage.shards import Shard
from harness.storage.sidefiles import QUERY, per_query_path, save_neighbours
from harness.storage.workdir import Workdir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
KEYS_SUITE = FIXTURES / "keys_suite.toml"
#: crosstuned with tuning=toptuned (a grid has one tuning per suite file): the head job on the source dataset
KEYS_SUITE_CROSS_TOP = FIXTURES / "keys_suite_crosstop.toml"
PLAN_SUITE = FIXTURES / "plan_suite.toml"
KEYS_JSON = FIXTURES / "keys.json"
CACHE_KEYS_JSON = FIXTURES / "cache_keys.json"
PLAN_LINE = FIXTURES / "plan_line.jsonl"
SHARD_DIR = FIXTURES / "shard"
HELP_DIR = FIXTURES / "help"
DDL_TXT = FIXTURES / "ddl.txt"
OLD_DB_DIR = FIXTURES / "old_db"
OLD_DB_EXPECTED = FIXTURES / "old_db_expected.json"

#: the cost suite keys the GPU or CPU model in; a fixed name keeps the golden keys machine-independent
HARDWARE = "golden-cpu"
#: the environment the help snapshots are rendered in (rich reads COLUMNS; TERM/NO_COLOR turn colour off)
HELP_ENV = {"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: what enters the golden keys besides the harness's own data: the model library's and Pillow's versions
KEY_LIBRARIES = ("timm",)


# ---------------------------------------------------------------- 1. golden keys


def key_inputs() -> dict[str, str]:
    """The versions that enter the keys from outside the repository (a lock bump changes keys on purpose)."""
    return {
        "harness": harness.__version__,
        **{name: importlib.metadata.version(name) for name in KEY_LIBRARIES},
        "pillow": PIL.__version__,
    }


def cell_keys(suite_file: Path, workdir: Path) -> list[dict[str, Any]]:
    """Every cell of a suite file with its key and the (kind, key) of each sub-job it consumes."""
    grid = load_grid(suite_file)
    plan = make_plan(grid.cells, "cpu", workdir, grid.skipped, ids=Identities("cpu", _hardware=HARDWARE))
    return [
        {
            "suite": p.spec.cell.suite,
            "strategy": p.spec.cell.strategy,
            "model": p.spec.cell.model,
            "dataset": p.spec.cell.dataset,
            "params": p.spec.cell.params,
            "key": p.spec.key,
            "subjobs": [{"kind": job.kind, "key": job.key} for job in p.spec.subjobs],
        }
        for p in plan.cells
    ]


def all_keys(workdir: Path) -> dict[str, Any]:
    return {
        "inputs": key_inputs(),
        "cells": cell_keys(KEYS_SUITE, workdir) + cell_keys(KEYS_SUITE_CROSS_TOP, workdir),
    }


def _manifest() -> Manifest:
    items = tuple(Item(f"{i}", i % 2, f"class-{i % 2}", "train" if i < 4 else "test", f"content-{i}") for i in range(6))
    return Manifest("digits[per_class=10]", items)


def cache_keys() -> dict[str, Any]:
    """An embedding-cache key and an image-cache key of fixed inputs (a stand-in model: only its ids count)."""
    manifest = _manifest()
    model = SimpleNamespace(
        model_id="timm:resnet18[init=random]",
        weights_digest="0" * 64,
        preprocessing={"size": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    )
    transform = SplitTransform(
        lambda image: image,
        ["Resize(size=256, interpolation=bilinear)", "CenterCrop(size=(224, 224))"],
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
    )
    return {
        "inputs": {"pillow": PIL.__version__},
        "manifest_digest": manifest.digest,
        "embedding": {
            "fp32": EmbeddingCache.key(model, manifest, "test", "cuda:1"),  # type: ignore[arg-type]
            "bf16_channels_last": EmbeddingCache.key(model, manifest, "train", "cpu", "bf16", True),  # type: ignore[arg-type]
        },
        "image": entry_key(manifest, "test", transform),
    }


# ---------------------------------------------------------------- 2. shards


def golden_shards() -> list[Shard]:
    """Three hand-built shards: two finished retrieval runs (one with per-query and neighbour side files) and a
    failure. Run ids are real-looking keys; nothing depends on a clock."""
    cells = [
        Cell("timm:resnet18[init=random]", "digits[per_class=10]", "pretrained", "retrieval",
             {"backend": "exact", "split": "test"}),
        Cell("open_clip:ViT-S-32[init=random]", "digits[per_class=10]", "pretrained", "retrieval",
             {"backend": "exact", "split": "test"}),
        Cell("timm:resnet18[init=random]", "synthetic", "pretrained", "retrieval",
             {"backend": "exact", "split": "test"}),
    ]  # fmt: skip
    run_ids = [
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
        "00112233445566778899aabbccddeeff",
    ]
    provenance = {"git_sha": "abc", "harness_version": "0.1.0", "torch_version": "2.x", "cpu": "test cpu",
                  "device": "cpu", "lock_hash": "lock"}  # fmt: skip
    shards = []
    for i, (cell, run_id) in enumerate(zip(cells, run_ids, strict=True)):
        ok = i < 2
        details: dict[str, Any] = {}
        if i == 0:
            bootstrap = {"n_resamples": 1000, "seed": 0, "level": 0.95, "method": "percentile"}
            details = {"per_query": f"{run_id}.npz", "neighbours": f"{run_id}.npz", "bootstrap": bootstrap}
        shards.append(
            Shard(
                run_id=run_id,
                cell=cell,
                status="ok" if ok else "error",
                started_at=f"2026-11-26T10:0{i}:00+00:00",
                finished_at=f"2026-11-26T10:0{i}:30+00:00",
                metrics={
                    "recall@1": 0.5 + i / 8,
                    "map@r": 0.25 + i / 16,
                    "recall@1_ci_low": 0.4,
                    "recall@1_ci_high": 0.6,
                }
                if ok
                else {},
                error=None if ok else "RuntimeError: boom",
                random_init=True,
                weights_digest="1" * 64 if ok else None,
                manifest_digest="2" * 64 if ok else None,
                preprocessing={"size": [224, 224]} if ok else {},
                seed=0,
                provenance=provenance,
                details=details,
            )
        )
    return shards


def per_query_arrays() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return np.arange(4, dtype=np.int64), {"recall@1": np.array([1.0, 0.0, 1.0, 0.0])}


def neighbour_arrays() -> tuple[np.ndarray, np.ndarray]:
    return np.array([[1, 2], [0, 3], [3, 0], [2, 1]], dtype=np.int64), np.array(
        [[0.5, 1.0], [0.5, 1.5], [0.25, 1.0], [0.25, 2.0]], dtype=np.float32
    )


def write_workdir(workdir: Path) -> None:
    """A workdir as runs leave it: shards/, per_query/ and neighbours/ (side files of the first shard)."""
    shards = golden_shards()
    folder = workdir / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    for shard in shards:
        (folder / f"{shard.run_id}.json").write_bytes(shard.to_bytes())
    first = shards[0]
    query, values = per_query_arrays()
    Workdir(workdir).per_query.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(per_query_path(workdir, first.details["per_query"]), **{QUERY: query, **values})
    save_neighbours(workdir, first.details["neighbours"], *neighbour_arrays())


# ---------------------------------------------------------------- 3. plan --json


def plan_lines(cwd: Path) -> list[str]:
    """``ecombench plan PLAN_SUITE --json`` run in ``cwd`` (relative workdir and db: no machine path)."""
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(
            app, ["plan", str(PLAN_SUITE), "--json", "--workdir", ".ecombench", "--db", "results.duckdb"], env=HELP_ENV
        )
    if result.exit_code != 0:
        raise AssertionError(f"plan --json failed ({result.exit_code}): {result.output}")
    return result.stdout.splitlines()


# ---------------------------------------------------------------- 4. --help


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of ``ecombench`` (the root included, as ``()``), in sorted order."""
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # typer vendors click: no isinstance
            walk(sub, (*path, name))

    walk(root, ())
    return sorted(found)


def help_file(path: tuple[str, ...]) -> str:
    return "_".join(("ecombench", *path)).replace("-", "_") + ".txt"


def help_texts() -> dict[str, str]:
    """File name -> ``ecombench ... --help`` at 200 columns without colour, all in this process."""
    runner = CliRunner()
    texts = {}
    old = {k: os.environ.get(k) for k in HELP_ENV}
    os.environ.update(HELP_ENV)
    try:
        for path in command_paths():
            result = runner.invoke(app, [*path, "--help"], prog_name="ecombench", env=HELP_ENV, terminal_width=200)
            if result.exit_code != 0:
                raise AssertionError(f"ecombench {' '.join(path)} --help exited {result.exit_code}: {result.output}")
            text = ANSI.sub("", result.stdout)  # FORCE_COLOR / GITHUB_ACTIONS make typer force a terminal
            texts[help_file(path)] = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return texts


# ---------------------------------------------------------------- 5. DDL


def ddl(db: Path) -> str:
    """The catalogue of a database: each table's and view's SQL, then every column in order."""
    con = store.connect(db, read_only=True)
    try:
        lines = ["-- tables"]
        for name, sql in con.execute(
            "SELECT table_name, sql FROM duckdb_tables() WHERE NOT internal ORDER BY table_name"
        ).fetchall():
            lines += [f"-- {name}", sql.strip()]
        lines.append("-- views")
        for name, sql in con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
        ).fetchall():
            lines += [f"-- {name}", sql.strip()]
        lines.append("-- columns")
        for row in con.execute(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall():
            lines.append(" | ".join("" if v is None else str(v) for v in row).rstrip())  # editors strip trailing blanks
    finally:
        con.close()
    return "\n".join(lines) + "\n"


def fresh_ddl(tmp: Path) -> str:
    db = tmp / "results.duckdb"
    store.connect(db).close()
    return ddl(db)


# ---------------------------------------------------------------- 6. an old database


def read_old_db(db: Path) -> dict[str, Any]:
    """What today's store and report read from a database: row counts, statuses, a metric, the report's view."""
    from harness.report import data as report_data

    con = store.connect(db, read_only=True)
    try:
        counts = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("runs", "metrics", "per_query", "metric_registry", "results")
        }
        statuses = dict(con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall())
        recall = con.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND metric = 'recall@1'", ["fedcba9876543210fedcba9876543210"]
        ).fetchone()[0]  # type: ignore[index]
        per_query_values = [
            v for (v,) in con.execute("SELECT value FROM per_query WHERE metric = 'recall@1' ORDER BY query").fetchall()
        ]
    finally:
        con.close()
    report = report_data.load(db)
    return {
        "counts": counts,
        "statuses": statuses,
        "recall@1": recall,
        "per_query_recall@1": per_query_values,
        "report_runs": sorted([r.run_id, r.status] for r in report.runs),
    }


def build_old_db(folder: Path) -> None:
    """``folder``/results.duckdb ingested by today's store from ``folder``/workdir's shards and side files."""
    workdir = folder / "workdir"
    write_workdir(workdir)
    # 16 KiB blocks instead of DuckDB's 256 KiB: the same schema and rows in ~200 KB instead of ~2.3 MB. The
    # store opens an existing file as it is; everything in it is written by today's store.connect and ingest.
    duckdb.connect(str(folder / "results.duckdb"), config={"default_block_size": "16384"}).close()
    count = store.ingest_folder(folder / "results.duckdb", workdir / "shards")
    if count != 3:
        raise AssertionError(f"ingested {count} shards, expected 3")


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
