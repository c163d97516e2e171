"""Compressed embeddings: hand-checked codecs, Hamming search against a brute-force reference, fits on the
training split only, and the compression suite end to end (deltas, overlap, sizes in the database)."""

from pathlib import Path

import duckdb
import numpy as np
import pytest

from harness.compute.compression.codecs import PCA, Int8, make_codec
from harness.compute.compression.hamming import HammingIndex
from harness.compute.extract.vectors import l2_normalise
from harness.compute.retrieval import search_once
from harness.compute.suites import resolve_params
from harness.compute.suites.compression import neighbour_overlap
from harness.core.errors import HarnessError
from harness.execute.runner import run_plan
from harness.plan.grid import make_cells
from harness.plan.plan import make_plan
from harness.spec.cells import Cell
from harness.spec.metrics import METRICS
from harness.spec.settings import Extraction, Settings


def test_int8_calibration_bounds_by_hand() -> None:
    train = np.array([[0.0, -1.0], [1.0, 1.0], [0.25, 0.0]], dtype=np.float32)
    codec = Int8("int8").fit(train)
    # per dimension: [lo, hi] = [0, 1] and [-1, 1], cut into 255 steps
    np.testing.assert_array_equal(codec.lo, [0.0, -1.0])
    np.testing.assert_array_equal(codec.hi, [1.0, 1.0])
    np.testing.assert_allclose(codec.step, [1 / 255, 2 / 255], rtol=1e-6)
    codes = codec.encode(np.array([[0.0, -1.0], [1.0, 1.0], [2.0, -3.0], [0.2, -0.6]], dtype=np.float32))
    assert codes.dtype == np.int8
    # the bounds code to -128 and 127; outside the training range clips to them; 0.2 and -0.6 are 51 steps up
    np.testing.assert_array_equal(codes, [[-128, -128], [127, 127], [127, -128], [-77, -77]])
    np.testing.assert_allclose(codec.decode(codes[:3]), [[0.0, -1.0], [1.0, 1.0], [1.0, -1.0]], atol=1e-6)
    x = np.random.default_rng(0).uniform([0, -1], [1, 1], size=(200, 2)).astype(np.float32)
    assert np.abs(codec.decode(codec.encode(x)) - x).max() <= codec.step.max() / 2 + 1e-6  # half a step at most
    assert codec.bytes_per_vector(2) == 2 and codec.overhead_bytes(2) == 16


def hamming_reference(gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """XOR and popcount of every pair, then a stable sort: ties by gallery index."""
    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    d = popcount[np.bitwise_xor(queries[:, None, :], gallery[None, :, :])].sum(axis=2)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_binary_hamming_ranking_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 21)).astype(np.float32)  # 21 bits: 3 bytes, 3 padding bits
    codec = make_codec("binary").fit(x[:30])
    codes = codec.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (60, 3) and codec.bytes_per_vector(21) == 3
    np.testing.assert_array_equal(np.unpackbits(codes, axis=1)[:, :21], (x - x[:30].mean(0) > 0).astype(np.uint8))
    ids, dist = search_once(HammingIndex(chunk=7), codes, codes[:25], 12)
    ref_ids, ref_dist = hamming_reference(codes, codes[:25], 12)
    np.testing.assert_array_equal(dist, ref_dist)
    np.testing.assert_array_equal(ids, ref_ids)  # ties (frequent with 21 bits) broken by index, identically
    assert (dist[:, 0] == 0).all() and (ids[:, 0] <= np.arange(25)).all()


def test_binary_centres_on_the_training_mean() -> None:
    positive = np.abs(np.random.default_rng(1).normal(size=(40, 16))).astype(np.float32)  # like post-ReLU features
    codes = make_codec("binary").fit(positive).encode(positive)
    bits = np.unpackbits(codes, axis=1)
    assert 0.2 < bits.mean() < 0.8  # raw sign bits would all be 1


def test_pca_is_fitted_on_train_only() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 8)).astype(np.float32) * np.arange(1, 9, dtype=np.float32)
    test = rng.normal(size=(20, 8)).astype(np.float32) * 100
    codec = make_codec("pca:3")
    assert isinstance(codec, PCA)
    with pytest.raises(HarnessError, match="must be fitted on the training split"):
        codec.encode(test)
    codec.fit(train)
    mean, components = codec.mean.copy(), codec.components.copy()
    _, _, vt = np.linalg.svd(train.astype(np.float64) - train.mean(0), full_matrices=False)
    np.testing.assert_allclose(mean, train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(np.abs(components), np.abs(vt[:3]), atol=1e-5)  # the train split's axes
    encoded = codec.encode(test)
    poisoned = codec.encode(np.full_like(test, 1e6))  # whatever the test split holds, the fit does not move
    assert np.isfinite(poisoned).all()
    np.testing.assert_array_equal(codec.mean, mean)
    np.testing.assert_array_equal(codec.components, components)
    np.testing.assert_allclose(np.linalg.norm(encoded, axis=1), 1.0, rtol=1e-5)
    assert codec.fitted_rows == 50
    with pytest.raises(HarnessError, match="already fitted"):
        codec.fit(test)
    with pytest.raises(HarnessError, match="10 dimensions asked for, but the embedding has 8"):
        make_codec("pca:10").fit(train)


def test_truncate_and_sizes() -> None:
    x = l2_normalise(np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32))
    codec = make_codec("truncate:3").fit(x)
    np.testing.assert_allclose(codec.encode(x), l2_normalise(x[:, :3]), rtol=1e-6)
    sizes = {spec: make_codec(spec).bytes_per_vector(768) for spec in ("fp32", "fp16", "int8", "binary", "pca:64")}
    assert sizes == {"fp32": 3072, "fp16": 1536, "int8": 768, "binary": 96, "pca:64": 256}


@pytest.mark.parametrize(
    ("spec", "message"),
    [("int4", "unknown compression 'int4' (known: fp32, fp16, int8, binary, pca:D, truncate:D)"),
     ("pca", "unknown compression 'pca'"), ("pca:x", "the dimension after 'pca:' must be a positive integer"),
     ("truncate:0", "must be a positive integer")],
)  # fmt: skip
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_codec(spec)
    with pytest.raises(HarnessError):
        resolve_params("compression", "pretrained", {"compression": spec})


def test_overlap() -> None:
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert neighbour_overlap(a, a, at=4) == 1.0
    assert neighbour_overlap(a, np.array([[4, 3, 9, 9], [9, 9, 9, 9]]), at=4) == 0.25


def test_grid_sweeps_one_cell_per_value() -> None:
    given = {"compression": ["fp32", "int8", "pca:4"], "forward_precision": ["fp32", "bf16"]}
    grid = make_cells(["pixels:4"], ["digits[per_class=5]"], ["pretrained"], ["compression"], {"compression": given})
    assert sorted((c.params["compression"], c.params["forward_precision"]) for c in grid.cells) == sorted(
        (c, f) for c in given["compression"] for f in given["forward_precision"]
    )
    with pytest.raises(HarnessError, match="parameter compression of suite 'compression' is an empty list"):
        make_cells(["pixels:4"], ["digits"], ["pretrained"], ["compression"], {"compression": {"compression": []}})
    with pytest.raises(HarnessError, match="must be text"):  # a list only where the suite sweeps it
        make_cells(["pixels:4"], ["digits"], ["pretrained"], ["compression"], {"compression": {"split": ["test"]}})


def run_cells(tmp_path: Path, cells: list[Cell]) -> tuple[list, Path]:  # type: ignore[type-arg]
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=Extraction(workers=0))
    outcomes = run_plan(make_plan(cells, "cpu", settings.workdir), settings)
    assert [o.error for o in outcomes] == [None] * len(cells)
    return outcomes, settings.db


def test_compression_suite_end_to_end(tmp_path: Path) -> None:
    given = {"compression": ["fp32", "fp16", "int8", "binary", "pca:8", "truncate:8"]}
    grid = make_cells(["pixels:6"], ["digits[per_class=12]"], ["pretrained"], ["compression"], {"compression": given})
    outcomes, db = run_cells(tmp_path, grid.cells)
    by = {o.cell.params["compression"]: o.metrics for o in outcomes}
    for o in outcomes:  # every metric declared, for this suite (harness.spec.metrics)
        assert all("compression" in METRICS[name].suites for name in o.metrics)
    assert by["fp32"]["delta_mmp_at_5"] == 0.0 and by["fp32"]["overlap_at_10"] == 1.0
    assert by["fp16"]["overlap_at_10"] > 0.97  # fp16 storage barely moves the ranking
    assert by["int8"]["overlap_at_10"] > 0.8
    assert [by[s]["bytes_per_vector"] for s in given["compression"]] == [144.0, 72.0, 36.0, 5.0, 32.0, 32.0]  # 36-d
    n = by["fp32"]["n_queries"] + by["fp32"]["n_excluded"]
    assert by["int8"]["index_bytes"] == 36 * n + 8 * 36  # codes and the calibration
    for spec, m in by.items():  # the delta is against the fp32 exact result of the same model
        assert m["delta_mmp_at_5"] == pytest.approx(m["mmp_at_5"] - by["fp32"]["mmp_at_5"]), spec
        assert m["query_ms"] > 0
    fitted = [o for o in outcomes if o.cell.params["compression"] == "pca:8"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT params->>'compression', value FROM results WHERE suite = 'compression' AND metric = 'overlap_at_10'"
        ).fetchall()
        [details] = con.execute("SELECT details FROM runs WHERE run_id = ?", [fitted[0].run_id]).fetchone()  # type: ignore[misc]
    assert len(rows) == 6
    assert '"fitted_on": "train"' in details and '"fitted_rows": 60' in details  # 6 of 12 per class, 10 classes

    from harness.report.render import write_reports

    md, html = (p.read_text() for p in write_reports(db, tmp_path / "out", ["md", "html"]))
    best = max((m for m in by.values() if m["bytes_per_vector"] <= 64), key=lambda m: m["mmp_at_5"])
    spec = next(s for s, m in by.items() if m is best)
    assert "## Deployment: quality versus bytes per vector" in md and "Deployment: quality versus bytes" in html
    assert f"the best model under 64 bytes per item is pixels:6 stored as {spec}: mMP@5 {best['mmp_at_5']:.4f}" in md
    assert md.count("| pixels:6 · ") == 6 and "★" in md and "<svg" in html


@pytest.mark.slow
def test_precision_equivalence_on_a_tiny_random_model(tmp_path: Path) -> None:
    """fp32 against bf16 and fp16 autocast forward passes of one random-init timm model, on the CPU."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    given = {"forward_precision": ["fp32", "bf16", "fp16"]}
    grid = make_cells(
        ["timm:test_resnet[init=random]"], ["digits[per_class=8]"], ["pretrained"], ["compression"],
        {"compression": given},
    )  # fmt: skip
    outcomes, db = run_cells(tmp_path, grid.cells)
    by = {o.cell.params["forward_precision"]: o.metrics for o in outcomes}
    assert by["fp32"]["overlap_at_10"] == 1.0
    for precision in ("bf16", "fp16"):
        assert 0.3 < by[precision]["overlap_at_10"] <= 1.0
        assert abs(by[precision]["delta_mmp_at_5"]) < 0.2
    with duckdb.connect(str(db), read_only=True) as con:
        stored = dict(
            con.execute(
                "SELECT params->>'forward_precision', value FROM results"
                " WHERE suite = 'compression' AND metric = 'overlap_at_10'"
            ).fetchall()
        )
    assert stored == {p: by[p]["overlap_at_10"] for p in by}


def test_best_under_a_byte_budget() -> None:
    from harness.report.deployment import Choice, Frontier

    def choice(model: str, compression: str, size: float, mmp: float) -> Choice:
        return Choice(model, "pretrained", compression, "fp32", False, {"bytes_per_vector": size, "mmp_at_5": mmp})

    choices = [choice("a", "binary", 8, 0.5), choice("b", "int8", 64, 0.7), choice("a", "fp32", 256, 0.8),
               choice("b", "fp16", 128, 0.69)]  # fmt: skip
    frontier = Frontier("d", choices)
    assert frontier.best_under(64).startswith(
        "On d, the best model under 64 bytes per item is b stored as int8: mMP@5 0.7000"
    )
    assert "is a stored as fp32" in frontier.best_under(256)
    assert frontier.best_under(4) == "On d, no measured choice stores a vector in 4 bytes or fewer."
    assert frontier.on_frontier == {"a · binary", "b · int8", "a · fp32"}  # fp16 of b: larger and worse than int8
