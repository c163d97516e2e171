"""KERAS_BACKEND=tensorflow (the ``ecombench[tensorflow]`` extra) runs the same top-tuning as the torch default.

Skipped when TensorFlow is not installed; ``nox -s tensorflow`` (run by .ci/run) installs the extra and runs it.
"""

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest

from support import run_cli

needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs the extra")

DATASET = "digits[per_class=40]"  # 400 images: 200 train, 200 test
#: accuracy gap allowed between the backends: their searches draw different trials; on 200 test images one
#: run's 95 % interval is about +-0.045 (measured here: torch 0.920, tensorflow 0.875)
TOLERANCE = 0.10


def classification(tmp_path: Path, backend: str) -> tuple[dict[str, float], dict]:
    workdir = tmp_path / backend
    workdir.mkdir()
    done = run_cli(
        "run", "--suite", "classification", "--model", "pixels:8", "--dataset", DATASET,
        cwd=workdir, env={"KERAS_BACKEND": backend, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    con = duckdb.connect(str(workdir / "results.duckdb"), read_only=True)
    metrics = dict(con.execute("SELECT metric, value FROM results").fetchall())
    details = json.loads(con.execute("SELECT details FROM runs").fetchone()[0])  # type: ignore[index]
    con.close()
    return metrics, details


@pytest.mark.slow
@needs_tensorflow
def test_tensorflow_backend_runs_the_same_search(tmp_path: Path) -> None:
    tf_metrics, tf_details = classification(tmp_path, "tensorflow")
    torch_metrics, torch_details = classification(tmp_path, "torch")
    assert (tf_details["keras_backend"], torch_details["keras_backend"]) == ("tensorflow", "torch")
    assert tf_details["toptune_job"] != torch_details["toptune_job"]  # never one cached head for both
    assert tf_details["preset"] == torch_details["preset"]
    assert tf_metrics["tuner_trials"] == torch_metrics["tuner_trials"] == 5
    space = {"activation", "dropout", "hidden_layers", "units_1", "units_2", "units_3", "learning_rate",
             "optimizer", "momentum", "batch_size"}  # fmt: skip
    for details in (tf_details, torch_details):
        assert {"activation", "hidden_layers", "learning_rate", "optimizer"} <= set(details["best_hyperparameters"])
        assert set(details["best_hyperparameters"]) <= space
    assert tf_metrics["accuracy"] >= 0.8 and torch_metrics["accuracy"] >= 0.8
    assert abs(tf_metrics["accuracy"] - torch_metrics["accuracy"]) <= TOLERANCE


def test_unknown_backend_is_one_clear_message(tmp_path: Path) -> None:
    done = run_cli(
        "run", "--suite", "classification", "--model", "pixels:8", "--dataset", DATASET,
        cwd=tmp_path, env={"KERAS_BACKEND": "theano"},
    )  # fmt: skip
    assert done.returncode == 2 and "KERAS_BACKEND='theano': expected one of torch, tensorflow" in done.stderr
