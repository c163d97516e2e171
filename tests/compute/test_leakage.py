"""Leakage: a folder dataset with duplicates planted across train/test yields exactly those pairs, and the
metrics with and without the leaked queries."""

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.digits import render
from harness.compute.datasets.duplicates import identical_pairs, near_pairs
from harness.compute.suites import resolve_params
from harness.core.errors import HarnessError
from harness.execute.runner import run_plan
from harness.plan.plan import make_plan
from harness.spec.cells import Cell
from harness.spec.metrics import METRICS
from harness.spec.settings import Extraction, Settings
from harness.storage.sidefiles import load_per_query, per_query_path

PER_CLASS = 6  # digits of each of 4 classes in each split


def planted(root: Path) -> dict[str, set[tuple[str, str]]]:
    """train/<c>/<i>.png and test/<c>/<i>.png from distinct digits, then 3 byte-identical copies and 1 near
    copy (one pixel changed by one grey level) of training images among the test images."""
    from sklearn.datasets import load_digits

    targets = load_digits().target
    for c in range(4):
        indices = np.flatnonzero(targets == c)[: 2 * PER_CLASS]
        for split, chunk in (("train", indices[:PER_CLASS]), ("test", indices[PER_CLASS:])):
            (root / split / str(c)).mkdir(parents=True, exist_ok=True)
            for i in chunk:
                render(int(i)).save(root / split / str(c) / f"{i}.png")
    identical, near = set(), set()
    for c, name, position in ((0, "copy_a", 1), (1, "copy_b", 2), (1, "copy_c", 3)):
        source = sorted((root / "train" / str(c)).iterdir())[position]
        shutil.copyfile(source, root / "test" / str(c) / f"{name}.png")
        identical.add((f"train/{c}/{source.name}", f"test/{c}/{name}.png"))
    source = sorted((root / "train" / "2").iterdir())[0]
    pixels = np.asarray(Image.open(source)).copy()
    pixels[0, 0] = np.where(pixels[0, 0] < 255, pixels[0, 0] + 1, 254)
    Image.fromarray(pixels).save(root / "test" / "2" / "near.png")
    near.add((f"train/2/{source.name}", "test/2/near.png"))
    return {"identical": identical, "near": near}


def test_identical_and_near_pairs_by_hand() -> None:
    train = np.eye(3, dtype=np.float32)
    test = np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32)
    assert near_pairs(train, test, 0.99) == [(0, 0, 1.0), (2, 2, 1.0)]
    assert [(a, b) for a, b, _ in near_pairs(train, test, 0.7)] == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(HarnessError, match="must be a cosine"):
        near_pairs(train, test, 1.5)


@pytest.mark.slow
def test_planted_duplicates_are_found_exactly(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    truth = planted(root)
    dataset = resolve_dataset(f"folder:{root}")
    manifest = dataset.manifest()
    found = {(manifest.items[manifest.indices("train")[a]].key, manifest.items[manifest.indices("test")[b]].key)
             for a, b in identical_pairs(manifest)}  # fmt: skip
    assert found == truth["identical"]  # item keys are paths relative to the dataset's folder

    # the dataset report (``ecombench datasets info``) counts and lists them
    from rich.console import Console

    from harness.workflows.datasets import info_command

    out, err = Console(record=True, width=200), Console(record=True, width=200)
    info_command(f"folder:{root}", None, tmp_path / "info.duckdb", tmp_path / "work", out, err)
    assert "byte-identical train/test pairs (sha256): 3" in out.export_text()
    listed = err.export_text()
    assert all(f"{a} (train) = {b} (test)" in listed for a, b in truth["identical"])

    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=Extraction(workers=0))
    leakage = resolve_params("leakage", "pretrained", {"threshold": 0.999})
    retrieval = resolve_params("retrieval", "pretrained", {"backend": "exact"})
    cells = [Cell("pixels:8", dataset.id, "pretrained", suite, params)
             for suite, params in (("leakage", leakage), ("retrieval", retrieval))]  # fmt: skip
    outcomes = run_plan(make_plan(cells, "cpu", settings.workdir), settings)
    assert [o.error for o in outcomes] == [None, None]
    leak, plain = (o.metrics for o in outcomes)
    assert all("leakage" in METRICS[name].suites for name in leak)  # every metric declared, for this suite
    assert (leak["n_identical_pairs"], leak["n_near_duplicate_pairs"], leak["n_leaked_queries"]) == (3, 4, 4)
    assert leak["leak_threshold"] == 0.999
    # with every query, the leakage cell scores what the retrieval suite scores
    assert leak["mmp_at_5"] == pytest.approx(plain["mmp_at_5"])
    test_keys = [manifest.items[i].key for i in manifest.indices("test")]
    leaked = {test_keys.index(b) for _, b in truth["identical"] | truth["near"]}
    query, values = load_per_query(per_query_path(settings.workdir, f"{outcomes[0].run_id}.npz"))
    clean = ~np.isin(query, sorted(leaked))
    assert leak["n_clean_queries"] == clean.sum() == len(query) - 4
    for name in ("mmp_at_5", "recall_at_1", "map_at_r"):  # the mean over the queries with no train partner
        assert leak[f"clean_{name}"] == pytest.approx(values[name][clean].mean())

    with duckdb.connect(str(settings.db), read_only=True) as con:
        [details] = con.execute("SELECT details FROM runs WHERE run_id = ?", [outcomes[0].run_id]).fetchone()  # type: ignore[misc]
    import json

    listed = json.loads(details)["leakage"]["pairs"]
    assert {(p["train_key"], p["test_key"]) for p in listed} == truth["identical"] | truth["near"]
    assert {(p["train_key"], p["test_key"]) for p in listed if p["identical"]} == truth["identical"]
    assert all(p["near"] for p in listed)  # the byte-identical copies are near-identical too (cosine 1)
