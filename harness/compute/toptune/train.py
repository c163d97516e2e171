"""Search, retrain and cache a top-tuning head. Everything here works on arrays; suites bring the data."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from harness.compute.datasets.splits import stratified_split
from harness.compute.extract.vectors import l2_normalise
from harness.compute.toptune.device import on_device
from harness.compute.toptune.hypermodel import HeadHyperModel, hidden_model
from harness.compute.toptune.presets import Preset
from harness.compute.toptune.threads import capped_threads
from harness.core.errors import HarnessError
from harness.core.io import atomic_path, atomic_write
from harness.core.progress import progress_bar
from harness.storage.subjobs import done_marker

#: the trained head in its job folder, beside the done marker (its metadata, written after it)
HEAD_FILE = "head.keras"


@dataclass
class TrainedHead:
    head: keras.Model
    classes: list[int]  # the dataset label of each output unit
    best_hyperparameters: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    search_s: float = 0.0  # every attempt's search time together (a killed search resumed is two attempts)
    search_attempts_s: list[float] = field(default_factory=list)  # each attempt's own; empty in old heads
    final_train_s: float = 0.0
    final_epochs: int = 0
    val_accuracy: float = 0.0
    threads: int = 0  # torch threads the search and retraining ran on (harness/compute/toptune/threads.py)
    device: str = "cpu"  # the torch device the search and retraining ran on (harness/compute/toptune/device.py)
    run_on: str = ""  # where this process runs the head (a loaded head: the cell's device); not saved

    def embed(self, x: np.ndarray) -> np.ndarray:
        """The top-tuned embedding: the output of the head's last hidden layer."""
        with on_device(self.run_on or self.device):
            out = hidden_model(self.head).predict(normalise(x), verbose=0, batch_size=1024)
        return np.asarray(out, dtype=np.float32)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with on_device(self.run_on or self.device):
            return np.asarray(self.head.predict(normalise(x), verbose=0, batch_size=1024), dtype=np.float64)


def normalise(x: np.ndarray) -> np.ndarray:
    """Heads see L2-normalised embeddings, like the retrieval suite, so the scale of a backbone's features
    does not decide the learning rate that works."""
    return l2_normalise(x)


def check_inputs(x: np.ndarray, labels: np.ndarray, what: str) -> None:
    if not np.isfinite(x).all():
        raise HarnessError(f"{what}: the embeddings contain NaN or infinite values")
    if len(x) > 1 and np.ptp(x, axis=0).max() == 0.0:
        raise HarnessError(f"{what}: every embedding is the same vector; a head cannot learn from constant input")
    if len(np.unique(labels)) < 2:
        raise HarnessError(f"{what}: top-tuning needs at least 2 classes, found {len(np.unique(labels))}")


def train_head(
    x: np.ndarray,
    labels: np.ndarray,
    preset: Preset,
    seed: int,
    directory: Path,
    overwrite: bool,
    what: str,
    device: str = "cpu",
) -> TrainedHead:
    """Search and retrain a head on (x, labels), or load it from ``directory`` when that job finished before.

    The validation split is carved from these training data only (seeded, stratified; a class with a single
    example stays in training). The search's state lives in ``directory``: an interrupted search resumes
    where it stopped, unless ``overwrite``. The head trains on the cell's ``device`` (cpu, cuda[:N], mps)
    and on no other, whatever else the machine has.
    """
    check_inputs(x, labels, what)
    if overwrite and directory.exists():
        shutil.rmtree(directory)
    marker = done_marker(directory, "toptune")
    if marker.exists():  # written last: the job finished
        meta = json.loads(marker.read_text())
        with on_device(device) as placed:  # the search's recorded device stays: its cost was spent there
            return TrainedHead(head=keras.models.load_model(directory / HEAD_FILE), **meta, run_on=placed)

    classes, y = np.unique(labels, return_inverse=True)
    carve = np.array(stratified_split(y.tolist(), preset.val_fraction, seed))
    train, val = carve == "train", carve == "test"
    if not val.any():
        raise HarnessError(f"{what}: no class has the 2 examples needed to carve a validation split")
    x = normalise(x)
    data = (x[train], y[train])
    validation = (x[val], y[val])
    hypermodel = HeadHyperModel(x[train].mean(axis=0), x[train].var(axis=0), len(classes))

    with capped_threads(device) as threads, on_device(device) as placed:
        trained = _search_and_retrain(hypermodel, data, validation, classes, preset, seed, directory, what)
    trained.threads, trained.device = threads, placed
    _save(trained, directory)
    return trained


def _search_and_retrain(
    hypermodel: HeadHyperModel,
    data: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    classes: np.ndarray,
    preset: Preset,
    seed: int,
    directory: Path,
    what: str,
) -> TrainedHead:
    keras.utils.set_random_seed(seed)
    clock = SearchClock(directory / SEARCH_TIME)
    with progress_bar(transient=True) as progress:
        task = progress.add_task(f"top-tuning search ({what})", total=preset.max_trials)

        def on_trial() -> None:
            clock.save()
            progress.advance(task)

        tuner = _Tuner(
            on_trial=on_trial,
            hypermodel=hypermodel,
            objective="val_accuracy",
            max_trials=preset.max_trials,
            executions_per_trial=preset.executions_per_trial,
            seed=seed,
            directory=str(directory),
            project_name="search",
            overwrite=False,  # resume an interrupted search; a forced rerun removed the directory above
        )
        progress.update(task, completed=len(tuner.oracle.trials))
        clock.start()
        tuner.search(*data, validation_data=validation, epochs=preset.epochs, verbose=0)
        attempts = clock.save()
    best = tuner.get_best_hyperparameters(1)[0]

    keras.utils.set_random_seed(seed)
    head = hypermodel.build(best)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=preset.patience, restore_best_weights=True)
    started = time.perf_counter()
    history = hypermodel.fit(
        best, head, *data, validation_data=validation, epochs=preset.final_epochs, callbacks=[stop], verbose=0
    )
    trained = TrainedHead(
        head=head,
        classes=classes.tolist(),
        best_hyperparameters=dict(best.values),
        trials=[
            {"trial_id": t.trial_id, "hyperparameters": t.hyperparameters.values, "score": t.score, "status": t.status}
            for t in tuner.oracle.trials.values()
        ],
        search_s=sum(attempts),
        search_attempts_s=attempts,
        final_train_s=time.perf_counter() - started,
        final_epochs=len(history.history["loss"]),
        val_accuracy=float(head.evaluate(*validation, verbose=0, return_dict=True)["accuracy"]),
    )
    return trained


SEARCH_TIME = "search_time.json"


class SearchClock:
    """The search time of every attempt at one job, kept in the job folder so that a search killed and
    resumed is charged for both processes. Saved when the attempt starts and after each trial: a kill loses
    at most the time of the trial it interrupted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.before = self._read()
        self.started: float | None = None

    def _read(self) -> list[float]:
        try:
            attempts = json.loads(self.path.read_text())["attempts_s"]
            return [float(a) for a in attempts]
        except (OSError, ValueError, KeyError, TypeError):  # none yet, or torn by a power cut: start afresh
            return []

    def start(self) -> None:
        self.started = time.perf_counter()
        self.save()

    def save(self) -> list[float]:
        """Every attempt's seconds, this one's so far last; written to the job folder."""
        now = [] if self.started is None else [time.perf_counter() - self.started]
        attempts = self.before + now
        atomic_write(self.path, json.dumps({"attempts_s": attempts}).encode())
        return attempts


def _save(trained: TrainedHead, directory: Path) -> None:
    """Head file first, then its metadata: the metadata's presence marks a complete job."""
    with atomic_path(directory / HEAD_FILE, suffix=".keras") as tmp:  # keras insists on the extension
        trained.head.save(tmp)
    meta = {f.name: getattr(trained, f.name) for f in fields(trained) if f.name not in ("head", "run_on")}
    atomic_write(done_marker(directory, "toptune"), json.dumps(meta, default=float).encode())


class _Tuner(kt.BayesianOptimization):
    """KerasTuner's Bayesian optimisation with a progress callback per finished trial."""

    def __init__(self, on_trial: Any, **kwargs: Any) -> None:
        self._on_trial = on_trial
        super().__init__(**kwargs)

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        self._on_trial()
