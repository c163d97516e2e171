"""The cost suite and its measurement machinery: statistics on a fake clock, FLOPs against hand counts, the
batch-size search on a simulated out-of-memory error, the price table, load detection, and the suite end to
end through the CLI into DuckDB's ``results`` and ``cost_ledger``."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
import timm
import torch

from harness.cli.cells import parse_params
from harness.compute.cost.batch_search import find_max_batch, is_out_of_memory
from harness.compute.cost.flops import flops_per_image
from harness.compute.cost.inference import Setup, prepared
from harness.compute.cost.prices import DEFAULT_PRICES, load_prices, price_metrics, rate_for
from harness.compute.cost.timing import WallTimer, measure, percentile, summarize
from harness.compute.models.base import EmbeddingModel
from harness.compute.suites import resolve_params
from harness.compute.suites.cost import DEFAULTS, check_params, spread_metrics
from harness.core.errors import HarnessError
from harness.core.machine import cpu_busy_other
from harness.spec.cells import Cell
from harness.storage.shards import Shard
from harness.storage.store import ingest
from support import run_cli


class FakeClock:
    """Returns the given timestamps in order, so each timed call lasts exactly what the test says."""

    def __init__(self, durations: list[float]) -> None:
        self.times: list[float] = []
        now = 1000.0
        for d in durations:
            self.times += [now, now + d]
            now += d + 7.0  # time passes between iterations too; it must not leak into a duration
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.times[self.calls - 1]


def timed(durations: list[float], warmup: int = 3) -> tuple[list[float], int, FakeClock]:
    clock, calls = FakeClock(durations), []
    result = measure(lambda: calls.append(1), WallTimer(clock), warmup=warmup, iterations=len(durations))
    return result, len(calls), clock


def test_percentiles_on_a_fake_clock_are_exact() -> None:
    # 101 durations 1..101 s in shuffled order: position h = (101 - 1) * q / 100 = q is a whole rank, so
    # p50 is the 51st smallest (51), p95 the 96th (96), p99 the 100th (100); no interpolation at all.
    durations = [float(k) for k in range(1, 102)]
    random.Random(0).shuffle(durations)
    measured, calls, clock = timed(durations)
    assert measured == durations  # each duration is end - start of its own call, gaps excluded
    assert calls == 3 + 101 and clock.calls == 2 * 101  # warm-up calls run untimed
    stats = summarize(measured)
    assert (stats.p50, stats.p95, stats.p99) == (51.0, 96.0, 100.0)
    assert (stats.n, stats.minimum, stats.maximum, stats.mean) == (101, 1.0, 101.0, 51.0)
    # 1..10: h = 9q/100. p50: h = 4.5 -> 5 + 0.5 * (6 - 5) = 5.5; p95: h = 8.55 -> 9 + 0.55 = 9.55;
    # p99: h = 8.91 -> 9.91; p25: h = 2.25 -> 3.25; p75: h = 6.75 -> 7.75; spread (7.75 - 3.25) / 5.5.
    ten = summarize([float(k) for k in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)])
    assert ten.p50 == 5.5
    assert ten.p95 == pytest.approx(9.55, abs=1e-12) and ten.p99 == pytest.approx(9.91, abs=1e-12)
    assert ten.spread == pytest.approx(4.5 / 5.5, abs=1e-12)
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_spread_flag_trips_on_a_noisy_clock_not_on_a_steady_one() -> None:
    steady = summarize(timed([0.010, 0.010, 0.010, 0.010, 0.011])[0])
    # sorted 0.010 x4, 0.011: p25 (h = 1) and p75 (h = 3) are both 0.010, so the spread is exactly 0
    assert steady.spread == 0.0
    assert spread_metrics("latency_b1", steady, 0.1) == {"latency_b1_spread": 0.0, "latency_b1_unstable": 0.0}
    noisy = summarize(timed([0.010, 0.020] * 4 + [0.010])[0])
    # sorted 0.010 x5, 0.020 x4 (n = 9): p25 (h = 2) = 0.010, p50 (h = 4) = 0.010, p75 (h = 6) = 0.020,
    # spread = (0.020 - 0.010) / 0.010 = 1.0, above a threshold of 0.1
    assert noisy.spread == pytest.approx(1.0)
    assert spread_metrics("latency_b1", noisy, 0.1)["latency_b1_unstable"] == 1.0
    assert spread_metrics("latency_b1", noisy, 1.5)["latency_b1_unstable"] == 0.0


def test_flops_of_known_layers_equal_the_hand_count() -> None:
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    # a multiply-add counts as 2 FLOPs; biases and the ReLU are not counted: 2 * (8 * 16 + 16 * 4) = 384
    assert flops_per_image(mlp, torch.randn(3, 8)) == 384
    conv = torch.nn.Conv2d(3, 5, kernel_size=3, padding=1)
    # every one of the 5 x 10 x 10 outputs is a dot product of length 3 x 3 x 3: 2 * 500 * 27 = 27,000
    assert flops_per_image(conv, torch.randn(2, 3, 10, 10)) == 27_000


def simulated(limit: int, error: type[Exception] | None = None) -> tuple[list[int], object]:
    runs: list[int] = []

    def run(batch_size: int) -> None:
        runs.append(batch_size)
        if batch_size > limit:
            raise (error or torch.cuda.OutOfMemoryError)(f"CUDA out of memory. Tried to allocate {batch_size} GiB")

    return runs, run


def test_batch_search_backs_off_to_the_largest_fitting_batch() -> None:
    freed: list[int] = []
    runs, run = simulated(48)
    search = find_max_batch(run, cap=1024, after_oom=lambda: freed.append(1))  # type: ignore[arg-type]
    # doubling 1..32 fits, 64 fails; bisection between 32 and 64: 48 fits, 56, 52, 50, 49 fail
    assert runs == [1, 2, 4, 8, 16, 32, 64, 48, 56, 52, 50, 49]
    assert search.best == 48 and not search.capped
    assert [ok for _, ok in search.tried] == [True] * 6 + [False, True, False, False, False, False]
    assert len(freed) == 5  # the cache is emptied after each out-of-memory error


def test_batch_search_stops_at_the_cap_and_recognises_the_cpu_allocator() -> None:
    runs, run = simulated(10**6)
    assert find_max_batch(run, cap=48).best == 48 and runs == [1, 2, 4, 8, 16, 32, 48]  # type: ignore[arg-type]
    cpu_oom = RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory")
    assert is_out_of_memory(cpu_oom) and not is_out_of_memory(RuntimeError("shape mismatch"))
    runs, run = simulated(5, RuntimeError)
    search = find_max_batch(run, cap=16)  # type: ignore[arg-type]
    assert (search.best, search.capped, runs) == (5, False, [1, 2, 4, 8, 6, 5])


def test_batch_search_lets_real_errors_and_a_failing_first_batch_through() -> None:
    def broken(batch_size: int) -> None:
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError):
        find_max_batch(broken, cap=8)
    _, run = simulated(0)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        find_max_batch(run, cap=8)  # type: ignore[arg-type]


def test_prices_from_a_user_table(tmp_path: Path) -> None:
    table = tmp_path / "prices.toml"
    table.write_text(
        '[[price]]\nmatch = "*h100*"\nusd_per_hour = 2.0\n\n[[price]]\nmatch = "cpu"\nusd_per_hour = 0.5\n'
    )
    gpu = price_metrics(5400.0, "cuda:1", prefix="search_", prices=table, name="NVIDIA H100 80GB HBM3")
    # 5,400 s = 1.5 h at 2.0 USD/h = 3.0 USD
    assert gpu == {"search_device_s": 5400.0, "search_device_hours": 1.5, "search_gpu_hours": 1.5,
                   "search_price_usd": 3.0, "search_usd_per_hour": 2.0}  # fmt: skip
    assert price_metrics(360.0, "cpu", prices=table)["price_usd"] == pytest.approx(0.05)
    assert "price_usd" not in price_metrics(1.0, "cuda", prices=table, name="Some Other GPU")
    shipped = load_prices(DEFAULT_PRICES)
    assert rate_for("cpu", shipped) is not None and rate_for("NVIDIA H200", shipped) is not None
    table.write_text('[[price]]\nmatch = "cpu"\n')
    with pytest.raises(HarnessError, match="entry 1 needs match"):
        load_prices(table)


def test_other_processes_load_is_detected() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)  # past the interpreter's start-up
        busy = cpu_busy_other(0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy >= 0.5  # a process spinning on one core, not counted as ours


def tiny_model() -> EmbeddingModel:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return EmbeddingModel("tiny", net, lambda image: torch.zeros(3, 8, 8), net, {}, "digest", True)


def test_precision_and_channels_last_leave_the_shared_model_as_it_was() -> None:
    model = tiny_model()
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    with prepared(model, Setup("cpu", "bf16", channels_last=True), torch.randn(3, 8, 8)) as bench:
        weight = model.module[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last)
        out = bench.embed(bench.inputs(2))
        assert out.dtype == torch.bfloat16 and out.shape == (2, 4)
        assert bench.embedding_dim() == 4
        assert bench.gflops_per_image() == pytest.approx(2 * 4 * 6 * 6 * 27 / 1e9)  # 4x6x6 outputs, 27 taps
    weight = model.module[0].weight
    assert weight.dtype == torch.float32 and weight.is_contiguous() and weight.device.type == "cpu"
    assert all(torch.equal(before[k], v) for k, v in model.module.state_dict().items())
    with pytest.raises(HarnessError, match="precision 'fp8'"):
        Setup("cpu", "fp8")


def test_pipeline_runs_the_harness_extraction_on_image_files(tmp_path: Path) -> None:
    from PIL import Image

    from harness.compute.cost.inference import pipeline, stage_times
    from harness.compute.datasets import resolve_dataset

    for i in range(6):
        (tmp_path / f"c{i % 2}").mkdir(exist_ok=True)
        Image.new("RGB", (12, 12), (40 * i, 90, 200)).save(tmp_path / f"c{i % 2}" / f"{i}.png")
    dataset = resolve_dataset(f"folder:{tmp_path}")
    items = list(dataset.manifest().items)
    model = tiny_model()
    model.transform = lambda image: torch.tensor(np.array(image)).permute(2, 0, 1).float()
    with prepared(model, Setup("cpu", "bf16"), torch.randn(3, 12, 12)) as bench:
        piped = pipeline(bench, dataset, items, batch_size=4, workers=0, repeats=2)
        stages = stage_times(bench, dataset, items, forward_img_s=50.0)
    assert piped.stats.n == 2 and piped.batch_size == 4
    assert piped.img_s == pytest.approx(6 / piped.stats.mean)
    assert stages.decode > 0 and stages.preprocess > 0 and stages.forward == 1 / 50.0


def test_cost_ledger_selects_cost_metrics_of_every_suite(tmp_path: Path) -> None:
    cell = Cell("timm:a", "digits", "pretrained", "retrieval", {"backend": "exact"})
    metrics = {"mmp_at_5": 0.5, "extract_s": 3.0, "search_s": 1.0, "embedding_dim": 64.0, "n_queries": 10.0}
    shard = Shard("r1", cell, "ok", "2026-11-26T10:00:00+00:00", "2026-11-26T10:01:00+00:00", metrics,
                  provenance={"device": "cpu", "cpu": "test cpu", "shared_machine": True})  # fmt: skip
    ingest(tmp_path / "r.duckdb", [shard])
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    rows = con.execute("SELECT metric, value, device, cpu, shared_machine FROM cost_ledger ORDER BY metric").fetchall()
    con.close()
    assert rows == [("extract_s", 3.0, "cpu", "test cpu", True), ("search_s", 1.0, "cpu", "test cpu", True)]


CONTRACT = [
    "latency_b1_p50_ms", "latency_b1_p95_ms", "latency_b1_p99_ms", "throughput_model_img_s",
    "throughput_pipeline_img_s", "pipeline_efficiency", "best_batch_size", "peak_memory_mb", "params",
    "gflops_per_image", "embedding_bytes_fp32", "embedding_bytes_bf16", "embedding_bytes_fp16",
    "latency_b1_unstable", "throughput_model_unstable", "throughput_pipeline_unstable", "decode_ms_per_image",
    "preprocess_ms_per_image", "forward_ms_per_image", "measure_device_s", "measure_price_usd",
]  # fmt: skip
SETTINGS = ("warmup=1", "iterations=5", "throughput_iterations=2", "max_batch_cpu=4", "pipeline_repeats=1")


@pytest.mark.slow
def test_cost_suite_end_to_end_lands_in_the_ledger_with_its_settings(tmp_path: Path) -> None:
    params = [arg for setting in SETTINGS for arg in ("--param", setting)]
    done = run_cli("run", "--suite", "cost", "--model", "timm:test_vit[init=random]", "--dataset",
                   "synthetic[classes=2,per_class=4,size=32]", *params, "--workers", "1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "latency_b1_p50_ms" in done.stdout

    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    results = dict(con.execute("SELECT metric, value FROM results WHERE suite = 'cost'").fetchall())
    ledger = dict(con.execute("SELECT metric, value FROM cost_ledger WHERE suite = 'cost'").fetchall())
    shared = con.execute("SELECT DISTINCT shared_machine FROM cost_ledger").fetchall()
    params_json, provenance_json, details_json = con.execute("SELECT params, provenance, details FROM runs").fetchone()  # type: ignore[misc]
    con.close()
    assert set(CONTRACT) <= set(results) and set(CONTRACT) <= set(ledger)
    assert not {"embedding_dim", "pipeline_images", "pipeline_workers"} & set(ledger)  # settings, not costs
    assert results["latency_b1_p50_ms"] <= results["latency_b1_p95_ms"] <= results["latency_b1_p99_ms"]
    # 8 images, the CPU cap of 4 reached without running out of memory; the pipeline uses that batch
    assert (results["best_batch_size"], results["batch_search_capped"], results["pipeline_batch_size"]) == (4, 1, 4)
    assert (results["pipeline_images"], results["pipeline_workers"]) == (8, 1)
    timm_vit = timm.create_model("test_vit")
    assert results["params"] == sum(p.numel() for p in timm_vit.parameters())
    assert results["embedding_bytes_fp32"] == 4 * timm_vit.num_features == 2 * results["embedding_bytes_fp16"]
    assert results["gflops_per_image"] > 0 and results["throughput_pipeline_img_s"] > 0
    assert results["measure_usd_per_hour"] == rate_for("cpu", load_prices())

    params = json.loads(params_json)  # every setting with the numbers
    assert (params["warmup"], params["iterations"], params["max_batch_cpu"]) == (1, 5, 4)
    assert (params["precision"], params["channels_last"]) == ("fp32", False)
    provenance = json.loads(provenance_json)
    assert provenance["device"] == "cpu" and provenance["cpu_threads"] >= 1 and provenance["torch_version"]
    assert isinstance(provenance["shared_machine"], bool) and provenance["cpu_busy_other"] >= 0
    assert shared == [(provenance["shared_machine"],)]
    details = json.loads(details_json)
    assert details["batch_search"]["tried"] == [[1, True], [2, True], [4, True]]
    assert details["latency_b1_s"]["n"] == 5
    assert isinstance(details["machine"]["shared_machine"], bool)  # this cell's own load sample


def test_bad_params_are_one_clear_error(tmp_path: Path) -> None:
    base = ("run", "--suite", "cost", "--model", "timm:test_vit[init=random]", "--dataset", "digits")
    done = run_cli(*base, "--param", "warmup", cwd=tmp_path)
    assert done.returncode == 2 and "--param 'warmup': expected KEY=VALUE" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    parsed = parse_params(["warmup=2", "max_spread=0.5", "channels_last=true", "precision=bf16", 'prices="a b"'])
    assert parsed == {"warmup": 2, "max_spread": 0.5, "channels_last": True, "precision": "bf16", "prices": "a b"}
    for pair in ("=1", "a b=1", "warmup=[1]", "warmup=inf", "warmup=2026-01-01"):
        with pytest.raises(HarnessError, match="--param"):
            parse_params([pair])
    with pytest.raises(HarnessError, match=r"unknown parameter\(s\) nope for suite 'cost'"):
        resolve_params("cost", "pretrained", {"nope": 1})
    for bad, message in [({"precision": "fp8"}, "precision='fp8'"), ({"warmup": -1}, "warmup=-1 must be an integer"),
                         ({"iterations": 2.5}, "iterations=2.5"), ({"max_spread": 0}, "max_spread=0")]:  # fmt: skip
        with pytest.raises(HarnessError, match=re.escape(message)):
            check_params({**DEFAULTS, **bad})
