"""Full fine-tuning and cross-tuning, for real: timm blocks on a tiny model, real checkpoints, real kills."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import torch

from harness.compute.finetune import checkpoints
from harness.compute.finetune.catalogue import finished_jobs
from harness.compute.finetune.recipe import Recipe, load_recipe
from harness.core.errors import HarnessError
from support import run_cli

MODEL = "timm:test_resnet[init=random]"


def curve_epochs(db: Path) -> list[tuple[str, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT job, epoch FROM training_curves ORDER BY job, epoch").fetchall()


def final_meta(workdir: Path) -> dict:
    [final] = sorted((workdir / "finetune").glob("*/final.safetensors"))
    return checkpoints.read_metadata(final)


def test_recipe_errors_name_the_problem() -> None:
    with pytest.raises(HarnessError, match=r"unknown fine-tuning preset 'nope' \(in .*finetune.toml: paper, quick"):
        load_recipe("nope")
    fields = {**load_recipe("quick").as_dict(), "batch_size": 7, "amp": "int8"}
    with pytest.raises(HarnessError, match=r"^x: batch_size must be even and >= 2 \(Mixup pairs\); amp must be one of"):
        Recipe.from_dict(fields, "x")
    with pytest.raises(HarnessError, match=r"missing field\(s\) \['workers'\], unknown field\(s\) \['wrokers'\]"):
        Recipe.from_dict({**{k: v for k, v in fields.items() if k != "workers"}, "wrokers": 2}, "x")


def test_optimizer_state_survives_a_safetensors_round_trip(tmp_path: Path) -> None:
    """LAMB's state after real steps, flattened into a file and back, is the same state."""
    import timm.optim

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    optimizer = timm.optim.create_optimizer_v2(net, opt="lamb", lr=1e-2, weight_decay=0.02)
    for _ in range(2):
        net(torch.randn(8, 4)).square().mean().backward()
        optimizer.step()
    tensors, rest = checkpoints.flatten_optimizer(optimizer.state_dict())
    path = tmp_path / "epoch-0001.safetensors"
    checkpoints.save(path, {**checkpoints.prefixed("model", net.state_dict()), **tensors}, {"optimizer": rest})
    loaded, meta = checkpoints.load(path)
    restored = checkpoints.unflatten_optimizer(loaded, meta["optimizer"])
    original = optimizer.state_dict()
    assert len(restored["param_groups"]) == len(original["param_groups"])
    for got, want in zip(restored["param_groups"], original["param_groups"], strict=True):
        assert got.keys() == want.keys()
        for name, value in want.items():  # LAMB keeps its step count as a tensor in the group
            if isinstance(value, torch.Tensor):
                assert torch.equal(got[name], value), name
            else:  # JSON turns tuples (betas) into lists
                assert got[name] == json.loads(json.dumps(value)), name
    assert restored["state"].keys() == original["state"].keys()
    for param, entries in original["state"].items():
        for name, value in entries.items():
            assert torch.equal(torch.as_tensor(restored["state"][param][name]), torch.as_tensor(value)), (param, name)
    assert checkpoints.unprefixed("model", loaded).keys() == net.state_dict().keys()
    assert checkpoints.read_metadata(path) == meta  # the header alone, without torch
    assert checkpoints.epoch_checkpoints(tmp_path) == [(1, path)]


@pytest.mark.slow
def test_quick_preset_raises_retrieval_over_random_init(tmp_path: Path) -> None:
    """The paper's strongest strategy, at CPU size: the fine-tuned backbone retrieves clearly better."""
    common = ["--model", MODEL, "--dataset", "digits[per_class=100]", "--backend", "exact"]
    scores = {}
    for strategy in ("pretrained", "finetuned"):
        done = run_cli("run", *common, "--strategy", strategy, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        scores[strategy] = float(re.search(r"mMP@5\s*│\s*([0-9.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert scores["finetuned"] > scores["pretrained"] + 0.1, scores
    db = tmp_path / "results.duckdb"
    assert [epoch for _, epoch in curve_epochs(db)] == list(range(1, 9))  # the quick preset's 8 epochs
    with duckdb.connect(str(db), read_only=True) as con:
        ledger = dict(con.execute("SELECT metric, value FROM cost_ledger WHERE strategy = 'finetuned'").fetchall())
    assert ledger["finetune_device_s"] == ledger["finetune_s"] > 0
    assert ledger["finetune_device_hours"] == pytest.approx(ledger["finetune_s"] / 3600)


def test_a_killed_finetune_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "harness.cli", "finetune", "--model", MODEL, "--dataset", "digits"]
    args += ["--preset", "smoke"]
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((tmp_path / ".ecombench" / "finetune").glob("*/epoch-0001.safetensors")):
        assert first.poll() is None and time.monotonic() < deadline, "the fine-tune ended before its first epoch"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    [job] = (tmp_path / ".ecombench" / "finetune").iterdir()
    assert not (job / "final.safetensors").exists()
    done_epochs = [epoch for epoch, _ in checkpoints.epoch_checkpoints(job)]
    assert done_epochs and max(done_epochs) < 3

    second = run_cli("finetune", "--model", MODEL, "--dataset", "digits", "--preset", "smoke", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"resuming {job.name} from epoch {max(done_epochs)}" in second.stderr
    meta = final_meta(tmp_path / ".ecombench")
    assert meta["epoch"] == 3 and [row["epoch"] for row in meta["curve"]] == [1, 2, 3]
    db = tmp_path / "results.duckdb"
    assert curve_epochs(db) == [(job.name, 1), (job.name, 2), (job.name, 3)]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE suite = 'finetune'").fetchone() == (1,)
    [listed] = finished_jobs(tmp_path / ".ecombench")  # registered: `models list` shows it
    assert listed["id"] == f"checkpoint:test_resnet@{job / 'final.safetensors'}" and listed["epochs"] == 3
    assert (listed["base"], listed["dataset"], listed["preset"]) == (MODEL, "digits", "smoke")
    shown = run_cli("models", "list", cwd=tmp_path)
    assert shown.returncode == 0 and "fine-tuned in .ecombench" in shown.stdout
    # finished: a third call trains nothing and adds no row
    third = run_cli("finetune", "--model", MODEL, "--dataset", "digits", "--preset", "smoke", cwd=tmp_path)
    assert third.returncode == 0 and "epoch" not in third.stderr, third.stderr
    assert curve_epochs(db) == [(job.name, 1), (job.name, 2), (job.name, 3)]


def test_two_training_processes_share_one_global_batch(tmp_path: Path) -> None:
    """The multi-GPU path (torchrun + DistributedDataParallel), run as two gloo processes on the CPU."""
    done = run_cli(
        "finetune", "--model", MODEL, "--dataset", "digits[per_class=40]", "--preset", "smoke", "--gpus", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = final_meta(tmp_path / ".ecombench")
    assert meta["world_size"] == 2 and meta["epoch"] == 3
    with duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True) as con:
        metrics = dict(con.execute("SELECT metric, value FROM results WHERE suite = 'finetune'").fetchall())
    assert metrics["finetune_device_s"] == pytest.approx(2 * metrics["finetune_s"])


def test_a_2x2_cross_tuning_grid_gives_four_cross_cells(tmp_path: Path) -> None:
    datasets = ["digits[per_class=30]", "synthetic[classes=4,per_class=20]"]
    (tmp_path / "cross.toml").write_text(
        f"[grid]\nmodels = [{MODEL!r}]\ndatasets = {json.dumps(datasets)}\nstrategies = ['crosstuned']\n"
        "suites = ['retrieval']\n[params.retrieval]\nbackend = 'exact'\nfinetune_preset = 'smoke'\n"
    )
    done = run_cli("grid", "cross.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True) as con:
        pairs = con.execute(
            "SELECT params->>'source', dataset FROM results"
            " WHERE strategy = 'crosstuned' AND metric = 'mmp_at_5' ORDER BY ALL"
        ).fetchall()
    assert pairs == sorted((source, target) for source in datasets for target in datasets)
    assert len(list((tmp_path / ".ecombench" / "finetune").glob("*/final.safetensors"))) == 2  # one per source


def test_clear_errors_for_what_cannot_be_fine_tuned(tmp_path: Path) -> None:
    done = run_cli("finetune", "--model", "pixels:8", "--dataset", "digits", cwd=tmp_path)
    assert done.returncode == 1
    assert "full fine-tuning builds timm architectures; model 'pixels:8' is of family 'pixels'" in done.stderr
    done = run_cli("run", "--model", MODEL, "--dataset", "digits", "--strategy", "crosstuned", cwd=tmp_path)
    assert done.returncode == 2
    assert "strategy crosstuned needs a source dataset: --param source=DATASET" in done.stderr
    done = run_cli("finetune", "--model", MODEL, "--dataset", "digits", "--preset", "huge", cwd=tmp_path)
    assert done.returncode == 2 and "unknown fine-tuning preset 'huge'" in done.stderr


@pytest.mark.parametrize(
    ("suite", "strategy", "given"),
    [
        ("retrieval", "crosstuned", {"source": "synthetic", "finetune_preset": "smoke", "backend": "exact"}),
        ("retrieval", "crosstuned", {"source": "synthetic", "tuning": "toptuned"}),
        ("classification", "finetuned", {"finetune_preset": "paper"}),
        ("finetune", "finetuned", {"gpus": 4}),
    ],
)
def test_the_reports_rerun_command_plans_the_same_cell(suite: str, strategy: str, given: dict) -> None:
    import shlex

    from harness.cli.cells import parse_params as _parse_params
    from harness.plan.grid import make_cells
    from harness.report.rerun import rerun_command

    [cell] = make_cells([MODEL], ["digits"], [strategy], [suite], {suite: given}).cells
    words = shlex.split(rerun_command(cell.model, cell.dataset, cell.suite, cell.strategy, cell.params))
    pairs = [words[i + 1] for i, word in enumerate(words) if word == "--param"]
    assert words[words.index("--suite") + 1] == suite and words[words.index("--strategy") + 1] == strategy
    assert make_cells([MODEL], ["digits"], [strategy], [suite], {suite: _parse_params(pairs)}).cells == [cell]
    assert "_config" not in " ".join(pairs)


def digit_folder(root: Path, classes: int, per_class: int) -> Path:
    """A ``folder:`` dataset of real digits (sklearn's), one sub-folder per class: a dataset with a prepared
    manifest, unlike the built-in ``digits``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        (root / str(label)).mkdir(parents=True)
        images = digits.images[digits.target == label][:per_class]
        for index, image in enumerate(images):
            pixels = (image * 255 / 16).astype("uint8")
            Image.fromarray(pixels).resize((32, 32)).convert("RGB").save(root / str(label) / f"{index}.png")
    return root


def test_a_finetune_under_a_workdir_uses_its_manifests_and_writes_nothing_in_the_cwd(tmp_path: Path) -> None:
    cwd, workdir = tmp_path / "cwd", tmp_path / "work"
    cwd.mkdir()
    data = digit_folder(tmp_path / "shop", classes=4, per_class=20)
    done = run_cli(
        "finetune", "--model", MODEL, "--dataset", f"folder:{data}", "--preset", "smoke",
        "--workdir", str(workdir), "--db", str(tmp_path / "results.duckdb"), cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(cwd.iterdir()) == []  # no ./.ecombench: the training process resolved the data in --workdir
    assert [p.suffix for p in (workdir / "manifests").iterdir() if p.suffix == ".parquet"] == [".parquet"]
    assert final_meta(workdir)["epoch"] == 3


def test_a_failed_checkpoint_save_keeps_the_previous_one_and_no_temporary(tmp_path: Path) -> None:
    path = checkpoints.epoch_path(tmp_path, 1)
    checkpoints.save(path, {"w": torch.ones(2)}, {"epoch": 1})
    with pytest.raises(TypeError):  # a tensor in the JSON metadata: the write fails midway
        checkpoints.save(path, {"w": torch.zeros(2)}, {"epoch": torch.ones(1)})
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    tensors, meta = checkpoints.load(path)
    assert meta == {"epoch": 1} and torch.equal(tensors["w"], torch.ones(2))
