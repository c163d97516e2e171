"""Top-tuning: classification metrics, the KerasTuner search, its resume, its records, and its edge cases."""

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from harness.compute.toptune.metrics import classification_metrics
from harness.compute.toptune.presets import Preset, load_preset
from harness.compute.toptune.train import _Tuner, train_head
from harness.core.errors import HarnessError
from support import run_cli
from support.heads import TINY, blobs


def test_classification_metrics_hand_computed() -> None:
    y = np.array([0, 0, 1, 2])
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])  # predicts 0, 1, 1, 0
    m = classification_metrics(y, proba)
    # class 0: P = 1/2 (of 2 predicted 0s, 1 right), R = 1/2; class 1: P = 1/2, R = 1; class 2: P = 0, R = 0
    assert m["accuracy"] == 0.5
    assert math.isclose(m["precision_macro"], (0.5 + 0.5 + 0) / 3)
    assert math.isclose(m["recall_macro"], (0.5 + 1 + 0) / 3)
    assert math.isclose(m["f1_macro"], (0.5 + 2 / 3 + 0) / 3)  # F1 = 2PR/(P+R): 0.5, 2/3, 0
    assert "top5_accuracy" not in m  # 3 classes: top-5 would be trivially 1


def test_top5_accuracy_with_enough_classes() -> None:
    proba = np.tile(np.linspace(0.3, 0.05, 6), (2, 1))  # ranks classes 0 > 1 > ... > 5 for both rows
    m = classification_metrics(np.array([4, 5]), proba)
    assert m["top5_accuracy"] == 0.5 and m["accuracy"] == 0.0  # class 4 is 5th (in), class 5 is 6th (out)


@pytest.mark.parametrize(
    ("x", "labels", "message"),
    [
        (np.full((6, 4), np.nan, np.float32), np.array([0, 0, 0, 1, 1, 1]), "the embeddings contain NaN"),
        (np.ones((6, 4), np.float32), np.array([0, 0, 0, 1, 1, 1]), "every embedding is the same vector"),
        (blobs(6, 1)[0], blobs(6, 1)[1], "top-tuning needs at least 2 classes, found 1"),
        (blobs(1, 3)[0], blobs(1, 3)[1], "no class has the 2 examples needed to carve a validation split"),
    ],
)
def test_bad_training_data_is_a_clear_error(tmp_path: Path, x: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(HarnessError, match=f"^cells: {message}"):
        train_head(x, labels, TINY, 0, tmp_path, overwrite=False, what="cells")


def test_search_is_recorded_saved_and_reused(tmp_path: Path) -> None:
    x, labels = blobs(20, 3)
    labels = labels + 5  # dataset labels need not start at 0: the head maps its outputs back
    head = train_head(x, labels, TINY, 0, tmp_path, overwrite=False, what="blobs")
    assert head.classes == [5, 6, 7]
    assert len(head.trials) == 2 and all(t["status"] == "COMPLETED" for t in head.trials)
    assert 2 <= head.best_hyperparameters["hidden_layers"] <= 3 and head.search_s > 0 and head.final_epochs >= 1
    hidden = head.embed(x[:4])
    assert hidden.shape == (4, head.best_hyperparameters[f"units_{head.best_hyperparameters['hidden_layers']}"])
    again = train_head(x, labels, TINY, 0, tmp_path, overwrite=False, what="blobs")  # loaded, not searched
    assert again.trials == head.trials and again.search_s == head.search_s
    np.testing.assert_allclose(again.predict_proba(x), head.predict_proba(x), rtol=1e-6)


def test_interrupted_search_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, labels = blobs(20, 3)
    preset = Preset(max_trials=3, executions_per_trial=1, epochs=2, final_epochs=2, patience=1, val_fraction=0.25)
    finished: list[str] = []
    original = _Tuner.on_trial_end

    def crash_after_first(self: _Tuner, trial: object) -> None:
        original(self, trial)
        finished.append(trial.trial_id)  # type: ignore[attr-defined]
        if len(finished) == 1:
            raise KeyboardInterrupt  # the process is killed after one trial

    monkeypatch.setattr(_Tuner, "on_trial_end", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_head(x, labels, preset, 0, tmp_path, overwrite=False, what="blobs")
    assert not (tmp_path / "head.json").exists()
    head = train_head(x, labels, preset, 0, tmp_path, overwrite=False, what="blobs")
    assert len(finished) == 3  # 1 before the crash + the 2 still missing: the first trial was not redone
    assert len(head.trials) == 3


def test_presets_are_data() -> None:
    quick, paper = load_preset("quick"), load_preset("paper")
    assert (paper.epochs, paper.executions_per_trial, paper.final_epochs) == (30, 2, 1000)  # what the paper says
    assert quick.max_trials < paper.max_trials
    with pytest.raises(HarnessError, match="unknown top-tuning preset 'huge'"):
        load_preset("huge")


def metric_rows(db: Path) -> dict[tuple[str, str, str], float]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT suite, strategy, metric, value FROM results").fetchall()
    finally:
        con.close()
    return {(suite, strategy, metric): value for suite, strategy, metric, value in rows}


def test_same_seed_same_search_and_head(tmp_path: Path) -> None:
    x, labels = blobs(20, 3)
    a = train_head(x, labels, TINY, 7, tmp_path / "a", overwrite=False, what="blobs")
    b = train_head(x, labels, TINY, 7, tmp_path / "b", overwrite=False, what="blobs")
    assert a.best_hyperparameters == b.best_hyperparameters
    assert [t["score"] for t in a.trials] == [t["score"] for t in b.trials]
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


@pytest.mark.slow
def test_digits_pixels_quick_preset_reaches_95_percent(tmp_path: Path) -> None:
    """Real check: an MLP head searched on the raw 8x8 digit pixels, scored on the untouched test split."""
    done = run_cli("run", "--suite", "classification", "--model", "pixels:8", "--dataset", "digits", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = metric_rows(tmp_path / "results.duckdb")
    assert metrics[("classification", "pretrained", "accuracy")] >= 0.95  # measured here: 0.9645
    assert metrics[("classification", "pretrained", "n_test")] == 901  # digits' default 50 % test split
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    details = json.loads(con.execute("SELECT details FROM runs").fetchone()[0])  # type: ignore[index]
    trials = con.execute("SELECT count(*), count(score) FROM toptune_trials").fetchone()
    con.close()
    assert details["preset"]["name"] == "quick" and "learning_rate" in details["best_hyperparameters"]
    assert trials == (5, 5) and metrics[("classification", "pretrained", "tuner_trials")] == 5
    assert metrics[("classification", "pretrained", "tuner_search_s")] > 0
    assert metrics[("classification", "pretrained", "head_train_s")] > 0


@pytest.mark.slow
def test_toptuned_retrieval_beats_weak_frozen_embeddings(tmp_path: Path) -> None:
    """A random-init backbone's embeddings are weak; a head trained on the training split only helps."""
    (tmp_path / "grid.toml").write_text(
        '[grid]\nmodels = ["timm:test_convnext[init=random]"]\ndatasets = ["digits[per_class=60]"]\n'
        'strategies = ["pretrained", "toptuned"]\nsuites = ["retrieval"]\n[params.retrieval]\nbackend = "exact"\n'
    )
    done = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = metric_rows(tmp_path / "results.duckdb")
    pretrained, toptuned = rows[("retrieval", "pretrained", "mmp_at_5")], rows[("retrieval", "toptuned", "mmp_at_5")]
    assert toptuned >= pretrained + 0.04, (pretrained, toptuned)  # measured here: 0.457 -> 0.547
    assert ("retrieval", "pretrained", "tuner_search_s") not in rows and rows[
        ("retrieval", "toptuned", "tuner_search_s")
    ] > 0


def test_classification_rejects_test_classes_missing_from_training(tmp_path: Path) -> None:
    from PIL import Image

    rows = ["path,label,split"]
    for i, (label, split) in enumerate([("a", "train")] * 3 + [("b", "train")] * 3 + [("a", "test"), ("c", "test")]):
        Image.new("RGB", (8, 8), (30 * i, 10, 10)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{label},{split}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    done = run_cli("run", "--suite", "classification", "--model", "pixels:4[mode=RGB]", "--dataset",
                   f"csv:{tmp_path / 'labels.csv'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "1 test images belong to 1 classes absent from the training split (e.g. 'c')" in done.stderr, done.stderr


def test_a_resumed_search_is_charged_for_every_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.compute.suites.heads import head_costs
    from harness.compute.toptune.train import SEARCH_TIME

    x, labels = blobs(20, 3)
    preset = Preset(max_trials=3, executions_per_trial=1, epochs=2, final_epochs=2, patience=1, val_fraction=0.25)
    original, calls = _Tuner.on_trial_end, []

    def killed_after_first(self: _Tuner, trial: object) -> None:
        original(self, trial)
        calls.append(trial)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the first process dies after one trial

    monkeypatch.setattr(_Tuner, "on_trial_end", killed_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_head(x, labels, preset, 0, tmp_path, overwrite=False, what="blobs")
    [first] = json.loads((tmp_path / SEARCH_TIME).read_text())["attempts_s"]
    assert first > 0
    head = train_head(x, labels, preset, 0, tmp_path, overwrite=False, what="blobs")
    assert len(head.search_attempts_s) == 2 and head.search_attempts_s[0] == first and head.search_attempts_s[1] > 0
    assert head.search_s == pytest.approx(first + head.search_attempts_s[1])
    costs = head_costs(head)
    assert costs["tuner_search_attempts"] == 2 and costs["tuner_search_s"] == head.search_s
    # loaded later from the finished job: the same account
    again = train_head(x, labels, preset, 0, tmp_path, overwrite=False, what="blobs")
    assert again.search_attempts_s == head.search_attempts_s and again.search_s == head.search_s
    # a clean search is one attempt
    clean = train_head(x, labels, TINY, 0, tmp_path / "clean", overwrite=False, what="blobs")
    assert len(clean.search_attempts_s) == 1 and clean.search_s == clean.search_attempts_s[0]
