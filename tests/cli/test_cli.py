"""The CLI end to end, in subprocesses, on real models, real images, Milvus Lite and a real DuckDB file."""

import json
import re
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from support import run_cli

GRID = """
[grid]
models = ["timm:test_vit[init=random]", "timm:test_convnext[init=random]"]
datasets = ["digits[per_class=8]", "synthetic[classes=4,per_class=8,size=32]"]
suites = ["retrieval"]

[params.retrieval]
backend = "{backend}"
"""
N_METRICS = 22  # 8 retrieval metrics, 5 x (ci_low, ci_high), search_s, search_depth, embedding_dim, embeddings_cached
# a run that computed its embeddings also records extract_s and its price: extract_device_s,
# extract_device_hours, extract_price_usd, extract_usd_per_hour (the CPU is in the price table)
EXTRACT_METRICS = 5
# a Milvus search also records its costs: milvus_build_s, _index_bytes, _index_bytes_estimated, _index_reused,
# _search_s, _qps, _latency_p50_ms, _latency_p99_ms
MILVUS_METRICS = {"milvus": 8, "exact": 0}


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["milvus", "exact"])
def test_grid_end_to_end_then_nothing_recomputed(tmp_path: Path, backend: str) -> None:
    (tmp_path / "grid.toml").write_text(GRID.format(backend=backend))
    first = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" ok ") == 4

    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    per_run = con.execute("SELECT run_id, count(*) FROM results GROUP BY run_id").fetchall()
    runs = con.execute(
        "SELECT model, status, random_init, git_sha, lock_hash, torch_version, cpu, weights_digest, manifest_digest,"
        " json_extract_string(preprocessing, '$.library'), json_extract_string(params, '$.backend') FROM runs"
    ).fetchall()
    values = dict(
        con.execute(
            "SELECT metric, value FROM results WHERE model LIKE '%test_vit%' AND dataset LIKE 'digits%'"
        ).fetchall()
    )
    con.close()
    assert len(per_run) == 4 and all(n == N_METRICS + EXTRACT_METRICS + MILVUS_METRICS[backend] for _, n in per_run)
    assert len(runs) == 4
    for model, status, random_init, *provenance, library, used_backend in runs:
        assert status == "ok" and random_init is True, model
        assert all(provenance), f"empty provenance field for {model}: {provenance}"
        assert (library, used_backend) == ("timm", backend)
    # digits[per_class=8]: 4 test images per class, so 3 relevant per query under leave-one-out
    assert values["n_queries"] == 40 and values["n_excluded"] == 0
    assert 0.0 <= values["mmp_at_5"] <= 1.0 and values["embedding_dim"] == 64

    caches = snapshot(tmp_path / ".ecombench" / "embeddings"), snapshot(tmp_path / ".ecombench" / "shards")
    assert len(caches[0]) == 8  # 4 cells x (array + sidecar)
    second = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(" cached ") == 4 and " ok " not in second.stdout
    # nothing recomputed: no embedding or shard file was written again
    assert (snapshot(tmp_path / ".ecombench" / "embeddings"), snapshot(tmp_path / ".ecombench" / "shards")) == caches

    report = run_cli("report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "reports" / "out" / "report.md").read_text()
    assert "## Paper table: pretrained" in text and "| ⚠ `timm:test_vit[init=random]` (random-init) |" in text


@pytest.mark.slow
def test_run_prints_metrics_and_force_recomputes(tmp_path: Path) -> None:
    args = ("run", "--model", "timm:test_vit[init=random]", "--dataset", "synthetic[classes=3,per_class=6,size=32]")
    first = run_cli(*args, "--backend", "exact", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "mMP@5" in first.stdout and "MAP@R" in first.stdout and "embeddings_cached" in first.stdout
    shard = json.loads(next((tmp_path / ".ecombench" / "shards").glob("*.json")).read_text())
    assert shard["status"] == "ok" and shard["metrics"]["embeddings_cached"] == 0.0
    forced = run_cli(*args, "--backend", "exact", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    shard = json.loads(next((tmp_path / ".ecombench" / "shards").glob("*.json")).read_text())
    assert shard["metrics"]["embeddings_cached"] == 1.0  # the suite re-ran, the embeddings came from the cache


def results_count(db: Path) -> int:
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM results").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("model", "dataset", "code", "message"),
    [
        ("nope:resnet", "digits", 2, "unknown model family 'nope' in model id 'nope:resnet'"),
        ("timm:resnet18[init=random]", "imagenet", 2, "unknown dataset 'imagenet': known kinds are digits"),
        ("timm:resnet18[init=random,colour=red]", "digits", 1, r"unknown option\(s\) colour in model id"),
        ("timm:no_such_net[init=random]", "digits", 1, "unknown timm model 'no_such_net'"),
        ("timm:test_vit.r160_in1k", "digits", 1, "pretrained weights for model 'timm:test_vit.r160_in1k' are not in"),
        ("checkpoint:test_vit@/nonexistent.safetensors", "digits", 1, "checkpoint file '/nonexistent.safetensors'"),
    ],
)
def test_bad_ids_give_one_clear_message_and_no_results(
    tmp_path: Path, model: str, dataset: str, code: int, message: str
) -> None:
    env = {"HF_HOME": str(tmp_path / "empty-hf-home")}  # no weights cached there
    done = run_cli("run", "--model", model, "--dataset", dataset, "--backend", "exact", cwd=tmp_path, env=env)
    assert done.returncode == code
    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    assert results_count(tmp_path / "results.duckdb") == 0


def test_bad_data_is_a_failed_run_with_its_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    images = tmp_path / "shop"
    for label in ("boots", "hats"):
        (images / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (24, 24), (40 * i, 90, 200)).save(images / label / f"{i}.png")
    # a corrupt image is excluded (and counted); a listed image that is absent fails the cell
    (images / "list.csv").write_text("path,label\nboots/0.png,b\nhats/9.png,h\n")
    cases = [(f"folder:{empty}", f"dataset folder '{empty}' holds no images"),
             (f"csv:{images}/list.csv", f"row 3 of '{images}/list.csv': image '{images}/hats/9.png'")]  # fmt: skip
    for dataset, message in cases:
        done = run_cli("run", "--model", "timm:test_vit[init=random]", "--dataset", dataset, "--backend", "exact",
                       cwd=tmp_path)  # fmt: skip
        assert done.returncode == 1
        assert message in done.stderr.replace("\n", ""), done.stderr
        assert "Traceback" not in done.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    runs = con.execute("SELECT status, error FROM runs ORDER BY error").fetchall()
    con.close()
    assert [status for status, _ in runs] == ["error", "error"]  # failures are recorded as data...
    assert results_count(tmp_path / "results.duckdb") == 0  # ...and produce no result rows


def test_listing_imports_no_torch(repo: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from harness import cli\n"
        "for args in (['models', 'list'], ['datasets', 'list']):\n"
        "    sys.argv = ['ecombench', *args]\n"
        "    try:\n"
        "        cli.main()\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, exit.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, env={"COLUMNS": "200"}
    )
    assert done.returncode == 0, done.stderr
    assert "timm:vit_base_patch16_224.augreg_in21k_ft_in1k" in done.stdout and "folder:PATH" in done.stdout


def test_corrupt_image_is_excluded_named_and_counted(tmp_path: Path) -> None:
    images = tmp_path / "shop"
    for label in ("boots", "hats"):
        (images / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (24, 24), (40 * i, 90, 200)).save(images / label / f"{i}.png")
    (images / "hats" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    done = run_cli("run", "--model", "timm:test_vit[init=random]", "--dataset", f"folder:{images}", "--backend",
                   "exact", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"1 listed images of 'folder:{images}' are excluded (corrupt or missing): hats/2.png" in done.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    [excluded] = con.execute("SELECT json_extract(provenance, '$.dataset_excluded')::INT FROM runs").fetchone()  # type: ignore[misc]
    counts = dict(
        con.execute("SELECT metric, value FROM results WHERE metric IN ('n_queries', 'n_excluded')").fetchall()
    )
    con.close()
    assert excluded == 1
    # 5 images left; the 50 % split puts 2 of boots' 3 and 1 of hats' 2 in test: the 2 boots query each
    # other, the lone hat has no relevant item and is excluded from the means
    assert counts == {"n_queries": 2.0, "n_excluded": 1.0}
