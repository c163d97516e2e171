"""The benchmarks as pytest-benchmark benchmarks: each times its subject and still prints the in-run ratio
against its baseline (raw forward, exact search, training step alone), measured in the same run.

    nox -s bench                                   # runs them, saves JSON under .benchmarks/
    nox -s bench -- --benchmark-compare            # compares with the latest saved run
    nox -s bench -- --benchmark-compare=0001 --benchmark-compare-fail=mean:25%

Not part of the default test run: ``testpaths`` is ``tests`` only. ``ECOMBENCH_BENCH_DEVICE=cuda`` runs the
pipeline pair on a GPU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_efficiency import write_jpegs

DEVICE = os.environ.get("ECOMBENCH_BENCH_DEVICE", "cpu")
MODEL = os.environ.get("ECOMBENCH_BENCH_MODEL", "timm:resnet18[init=random]")
BATCH, IMAGES, WORKERS = 16, 64, 2
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def pipeline_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, list[Any]]]:
    from harness.compute.cost.inference import Setup, prepared, sample_tensor
    from harness.compute.datasets import resolve_dataset
    from harness.compute.models import load_model

    folder = tmp_path_factory.mktemp("jpegs")
    write_jpegs(folder, IMAGES, 512)
    dataset = resolve_dataset(f"folder:{folder}")
    items = list(dataset.manifest().items)[:IMAGES]
    model = load_model(MODEL)
    with prepared(model, Setup(DEVICE, "fp32", False), sample_tensor(model, dataset, items[0])) as bench:
        yield bench, dataset, items


def test_raw_forward(benchmark: Any, pipeline_setup: tuple[Any, Any, list[Any]]) -> None:
    bench, _, _ = pipeline_setup
    result = benchmark.pedantic(bench.throughput, args=(BATCH, 1, 3), rounds=3, iterations=1)
    RESULTS["raw_img_s"] = result.img_s
    benchmark.extra_info["img_s"] = result.img_s
    assert result.img_s > 0


def test_pipeline(benchmark: Any, pipeline_setup: tuple[Any, Any, list[Any]]) -> None:
    from harness.compute.cost.inference import pipeline

    bench, dataset, items = pipeline_setup
    result = benchmark.pedantic(pipeline, args=(bench, dataset, items, BATCH, WORKERS, 1), rounds=3, iterations=1)
    benchmark.extra_info["img_s"] = result.img_s
    if "raw_img_s" in RESULTS:
        ratio = result.img_s / RESULTS["raw_img_s"]
        benchmark.extra_info["efficiency"] = ratio
        print(f"\npipeline {result.img_s:.1f} img/s / raw forward {RESULTS['raw_img_s']:.1f} img/s = {ratio:.3f}")
    assert result.img_s > 0


def test_retrieval_backends(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The exact backend, faiss and Milvus Lite on the same vectors; the script prints the times and ratios."""
    import retrieval_backends

    benchmark.pedantic(retrieval_backends.main, args=(["--sizes", "1000x64", "--milvus"],), rounds=1, iterations=1)
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    assert "1000" in out


def test_finetune_throughput(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The fine-tuning loop against its training step alone (tiny model and data on the CPU)."""
    import finetune_throughput

    argv = ["--epochs", "2", "--images", "64", "--classes", "4", "--size", "96", "--workers", "0",
            "--iterations", "3", "--device", DEVICE]  # fmt: skip
    benchmark.pedantic(finetune_throughput.main, args=(argv,), rounds=1, iterations=1)
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    assert out.strip()
