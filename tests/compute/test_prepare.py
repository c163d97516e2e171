"""``ecombench datasets prepare``/``info``: the prepared manifest (Parquet + sidecar), its digest, resuming an
interrupted prepare, the DuckDB statistics, and the bring-your-own kinds through the same machinery."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from harness.compute.datasets import prepare as prepare_module
from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.files import FileDataset
from harness.compute.datasets.prepare import Paths, build_in_memory, manifests_dir, prepare
from support import replicas, run_cli


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default workdir (.ecombench, which holds the prepared manifests) inside the test's folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".ecombench"


def file_dataset(dataset_id: str) -> FileDataset:
    dataset = resolve_dataset(dataset_id)
    assert isinstance(dataset, FileDataset)
    return dataset


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_prepared_manifest_is_the_in_memory_one_and_never_touches_the_root(tmp_path: Path, home: Path) -> None:
    root = replicas.sop(tmp_path / "sop")
    before = snapshot(root)
    in_memory = build_in_memory(file_dataset(f"sop:{root}"))[0]
    done = prepare(file_dataset(f"sop:{root}"), workers=2)
    assert not done.reused and done.hashed == 12 and done.resumed == 0
    paths = Paths.of(home / "manifests", f"sop:{root}")
    assert paths.parquet.name == hashlib.sha256(f"sop:{root}".encode()).hexdigest() + ".parquet"
    assert sorted(p.name for p in (home / "manifests").iterdir()) == sorted(
        [paths.parquet.name, paths.sidecar.name, paths.lock.name]
    )  # the journal is gone once the Parquet is written
    con = duckdb.connect()
    columns = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(paths.parquet)]).fetchall()
    assert [(name, kind) for name, kind, *_ in columns] == [
        ("path", "VARCHAR"), ("label", "INTEGER"), ("class_name", "VARCHAR"), ("split", "VARCHAR"),
        ("size", "BIGINT"), ("sha256", "VARCHAR"),
    ]  # fmt: skip
    first = con.execute("SELECT path, size, sha256 FROM read_parquet(?) LIMIT 1", [str(paths.parquet)]).fetchone()
    image = root / "bicycle_final" / "111085122871_0.JPG"
    assert first == (
        "bicycle_final/111085122871_0.JPG",
        image.stat().st_size,
        hashlib.sha256(image.read_bytes()).hexdigest(),
    )
    sidecar = json.loads(paths.sidecar.read_text())
    reloaded = file_dataset(f"sop:{root}")
    assert reloaded.report()["manifest"] == str(paths.parquet)  # read from the prepared manifest
    assert reloaded.manifest() == in_memory and reloaded.manifest().digest == in_memory.digest == sidecar["digest"]
    assert reloaded.manifest().excluded == 1
    assert prepare(reloaded, workers=0).reused  # valid: nothing read again
    assert snapshot(root) == before


def test_a_changed_annotation_file_makes_the_prepared_manifest_stale(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = replicas.sop(tmp_path / "sop")
    prepared = prepare(file_dataset(f"sop:{root}"), workers=0).report
    lines = (root / "Ebay_test.txt").read_text().splitlines()
    (root / "Ebay_test.txt").write_text("\n".join(lines[:-1]) + "\n")  # one product image fewer
    dataset = file_dataset(f"sop:{root}")
    assert len(dataset.manifest().items) == 10 and dataset.manifest().digest != prepared["digest"]
    assert caplog.messages[0] == (
        f"the prepared manifest of 'sop:{root}' was not usable (an annotation file or folder changed since): "
        f"prepared it again in this process; `ecombench datasets prepare sop:{root}` does this ahead of time, "
        "in parallel"
    )
    # the run's build names what it left out, as prepare does (the replica holds one truncated JPEG)
    assert caplog.messages[1].startswith(f"1 listed images of 'sop:{root}' are excluded (corrupt or missing): ")
    assert len(caplog.messages) == 2
    # the run kept what it built: the next run and prepare read it, and nothing is said again
    caplog.clear()
    again = file_dataset(f"sop:{root}")
    assert again.manifest().digest == dataset.manifest().digest and again.report()["manifest"] is not None
    assert prepare(again, workers=0).reused and caplog.messages == []


def test_digest_is_stable_and_follows_one_image(tmp_path: Path) -> None:
    root = replicas.products10k(tmp_path / "p10k")
    first = prepare(file_dataset(f"products10k:{root}"), workers=0).report["digest"]
    assert prepare(file_dataset(f"products10k:{root}"), workers=0, force=True).report["digest"] == first
    replicas.image(root / "train" / "3.jpg", 250)  # same name, same size class, other pixels
    changed = prepare(file_dataset(f"products10k:{root}"), workers=0, force=True).report["digest"]
    assert changed != first
    assert file_dataset(f"products10k:{root}").manifest().digest == changed


class StopAfter:
    """A progress reporter that interrupts prepare, as Ctrl-C would, once ``limit`` files are done."""

    def __init__(self, limit: int) -> None:
        self.limit, self.done = limit, 0

    def start(self, total: int, resumed: int) -> None:
        self.total, self.resumed = total, resumed

    def advance(self, count: int) -> None:
        self.done += count
        if self.done >= self.limit:
            raise KeyboardInterrupt


def test_an_interrupted_prepare_resumes_without_rereading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shop"
    for i in range(150):
        replicas.image(root / f"class_{i % 5}" / f"{i:03d}.png", i)
    dataset_id = f"folder:{root}[seed=4]"
    with pytest.raises(KeyboardInterrupt):
        prepare(file_dataset(dataset_id), workers=2, reporter=StopAfter(64))
    paths = Paths.of(manifests_dir(Path(".ecombench")), dataset_id)
    assert len(paths.journal.read_text().splitlines()) == 64 and not paths.parquet.exists()
    with paths.journal.open("a") as journal:
        journal.write('{"o": 64, "k": "class_2/02')  # the torn last line of a killed run
    read: list[str] = []

    def counting(base: str, keys: list[str]) -> Any:
        read.extend(keys)
        return inspect_files(base, keys)

    inspect_files = prepare_module.inspect_files
    monkeypatch.setattr(prepare_module, "inspect_files", counting)
    reporter = StopAfter(10**6)
    resumed = prepare(file_dataset(dataset_id), workers=0, reporter=reporter)
    assert (resumed.resumed, resumed.hashed, len(read), reporter.resumed, reporter.done) == (64, 86, 86, 64, 86)
    assert read[0] == "class_2/022.png"  # the 65th entry: 30 per class folder, folders and files sorted
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")  # another workdir: no journal to resume from
    whole = prepare(file_dataset(dataset_id), workers=0)
    assert whole.hashed == 150 and whole.report["digest"] == resumed.report["digest"]
    assert whole.report["split"]["seed"] == 4 and whole.report["classes"] == resumed.report["classes"]


def test_a_journal_of_another_listing_is_not_resumed(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    for i in range(80):
        replicas.image(root / f"c{i % 2}" / f"{i:02d}.png", i)
    with pytest.raises(KeyboardInterrupt):
        prepare(file_dataset(f"folder:{root}"), workers=0, reporter=StopAfter(64))
    replicas.image(root / "c0" / "00a.png", 7)  # a new image early in the listing
    done = prepare(file_dataset(f"folder:{root}"), workers=0)
    assert (done.resumed, done.hashed, done.report["images"]) == (0, 81, 81)


def test_bring_your_own_kinds_record_their_split(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    for i in range(12):
        replicas.image(root / ("boots" if i < 8 else "hats") / f"{i}.jpg", i, "truncated" if i == 3 else "rgb")
    report = prepare(file_dataset(f"folder:{root}[test_fraction=0.25]"), workers=0).report
    assert report["split"] == {"protocol": "seeded stratified split (test_fraction=0.25, seed=0)",
                               "test_fraction": 0.25, "seed": 0}  # fmt: skip
    assert [key for key, _ in report["corrupt"]] == ["boots/3.jpg"]
    assert {row["split"]: row["images"] for row in report["splits"]} == {"train": 8, "test": 3, "all": 11}
    (root / "list.csv").write_text("path,label,split\nboots/0.jpg,b,train\nboots/3.jpg,b,test\nhats/9.jpg,h,test\n")
    csv = prepare(file_dataset(f"csv:{root / 'list.csv'}"), workers=0).report
    assert csv["split"] == {"protocol": "official: the CSV's split column"} and csv["excluded"] == 1
    assert csv["classes"] == [["train", 0, "b", 1], ["test", 1, "h", 1]]


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


SOP_TABLE = [["train", "7", "3", "2", "2", "3"], ["test", "4", "2", "2", "2", "2"], ["all", "11", "5", "2", "2", "3"]]


def test_cli_prepare_info_and_a_run_on_the_prepared_manifest(tmp_path: Path) -> None:
    root = replicas.sop(tmp_path / "sop")
    env: dict[str, str] = {}
    home = ["--workdir", str(tmp_path / "home")]
    done = run_cli("datasets", "prepare", "sop", "--root", str(root), "--workers", "2", *home, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^12 images read, hashed and decoded in [\d.]+ s \([\d,]+ images/s, 2 workers\)$", done.stdout, re.M
    )
    assert table_rows(done.stdout) == SOP_TABLE
    assert "1 corrupt images excluded:\n  coffee_maker_final/111737519223_8.JPG: cannot decode image" in done.stderr
    sidecar = json.loads(next((tmp_path / "home" / "manifests").glob("*.json")).read_text())
    info = run_cli("datasets", "info", f"sop:{root}", *home, cwd=tmp_path, env=env)
    assert info.returncode == 0, info.stderr
    assert table_rows(info.stdout) == SOP_TABLE and f"manifest digest: {sidecar['digest']}" in info.stdout
    assert "image modes (converted to RGB when read): CMYK 1, L 1, RGB 9" in info.stdout
    again = run_cli("datasets", "prepare", f"sop:{root}", *home, cwd=tmp_path, env=env)
    assert again.returncode == 0 and again.stdout.startswith("already prepared and still valid")

    run = run_cli("run", "--model", "timm:test_vit[init=random]", "--dataset", f"sop:{root}", "--backend", "exact",
                  *home, cwd=tmp_path, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    datasets = con.execute(
        "SELECT dataset, digest, images, classes, train_images, train_classes, test_images, test_classes, excluded,"
        " details->>'$.split.protocol' FROM datasets"
    ).fetchall()
    classes = con.execute(
        "SELECT split, label, class_name, images FROM dataset_classes ORDER BY split, label"
    ).fetchall()
    runs = con.execute("SELECT manifest_digest, provenance->>'$.dataset_excluded' FROM runs").fetchall()
    assert datasets == [
        (f"sop:{root}", sidecar["digest"], 11, 5, 7, 3, 4, 2, 1, "official: Ebay_train.txt / Ebay_test.txt")
    ]
    assert classes == [("test", 3, "4", 2), ("test", 4, "5", 2), ("train", 0, "1", 2), ("train", 1, "2", 3),
                                  ("train", 2, "3", 2)]  # fmt: skip
    assert runs == [(sidecar["digest"], "1")]  # the run used the prepared manifest, and recorded the exclusion
    con.close()


def test_cli_wrong_root_is_one_message(tmp_path: Path) -> None:
    done = run_cli("datasets", "prepare", "rp2k", "--root", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = (
        f"error: RP2K: expected folder '{tmp_path}/nope/train' is missing: the root '{tmp_path}/nope' does not exist. "
        "RP2K is published at https://www.pinlandata.com/rp2k_dataset"
    )
    assert done.stderr.replace("\n", "").startswith(message), done.stderr
    both = run_cli("datasets", "info", f"sop:{tmp_path}", "--root", "/elsewhere", cwd=tmp_path)
    assert both.returncode == 2 and "names the root" in both.stderr
    assert not (tmp_path / "results.duckdb").exists()
