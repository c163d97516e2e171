"""A corpus of hostile inputs through the real CLI (``harness.cli.main``, in this process): each ends with a
non-zero exit code, one line on stderr that names what is wrong and where, no Python traceback, and nothing
written to the results database (a cell that fails is recorded as a failed run, never as result rows).

``CORPUS`` is the table: case -> (command line, exit code, the start of the message); ``ACCEPTED`` lists
odd inputs that are valid and must work.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from harness import cli


@dataclass(frozen=True)
class Case:
    args: Callable[[Path], list[str]]  # the command line, given a fresh folder holding the planted input
    code: int  # the exit code
    message: str  # what the one line on stderr says ({tmp} is that folder)
    plant: Callable[[Path], object] | None = None  # writes the hostile input into the folder


# --- planted inputs --------------------------------------------------------------------------------------


def png(path: Path, size: tuple[int, int] = (8, 8), colour: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (colour, 40, 200)).save(path)
    return path


def shop(root: Path, classes: tuple[str, ...] = ("boots", "hats"), per_class: int = 3) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            png(root / name / f"{i}.png", colour=30 * i + 80 * c)
    return root


def bomb(path: Path) -> None:
    """A valid PNG whose header claims 100000 x 100000 pixels (10^10: Pillow's bomb limit is ~1.8 x 10^8)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def truncated_png(path: Path) -> None:
    data = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(data, "PNG")
    path.write_bytes(data.getvalue()[: len(data.getvalue()) // 2])


def all_bad(kind: str) -> Callable[[Path], object]:
    """A two-class folder whose every image is ``kind``: nothing readable is left."""

    def plant(tmp: Path) -> None:
        for name in ("a", "b"):
            for i in range(2):
                path = tmp / "shop" / name / f"{i}.{'jpg' if kind == 'zero' else 'png'}"
                path.parent.mkdir(parents=True, exist_ok=True)
                {"zero": lambda p: p.write_bytes(b""), "truncated": truncated_png, "bomb": bomb}[kind](path)

    return plant


def symlink_loop(tmp: Path) -> None:
    shop(tmp / "shop")
    (tmp / "shop" / "boots" / "again").symlink_to(tmp / "shop" / "boots", target_is_directory=True)


def csv(text: str | bytes) -> Callable[[Path], object]:
    def plant(tmp: Path) -> None:
        shop(tmp)
        (tmp / "l.csv").write_bytes(text.encode() if isinstance(text, str) else text)

    return plant


def workdir_read_only(tmp: Path) -> None:
    (tmp / "wd").mkdir()
    os.chmod(tmp / "wd", stat.S_IRUSR | stat.S_IXUSR)


# --- command lines ---------------------------------------------------------------------------------------


def info(dataset: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["datasets", "info", dataset.replace("{tmp}", str(tmp)), "--db", f"{tmp}/r.duckdb"]


def prepare(dataset: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [
        "datasets",
        "prepare",
        dataset.replace("{tmp}", str(tmp)),
        "--workers",
        "0",
        "--db",
        f"{tmp}/r.duckdb",
    ]


def run(*extra: str, model: str = "pixels:4", dataset: str = "digits[per_class=4]") -> Callable[[Path], list[str]]:
    def args(tmp: Path) -> list[str]:
        given = [a.replace("{tmp}", str(tmp)) for a in extra]
        base = ["run", "--model", model, "--dataset", dataset.replace("{tmp}", str(tmp)), "--workers", "0"]
        base += [] if "--backend" in given or "--milvus-uri" in given else ["--backend", "exact"]
        base += [] if "--db" in given else ["--db", f"{tmp}/r.duckdb"]
        return base + ([] if "--workdir" in given else ["--workdir", f"{tmp}/wd"]) + given

    return args


LONG = "x" * 10_000
NONE_READABLE = "dataset 'folder:{tmp}/shop' has no readable image: 4 corrupt, 0 missing (first: cannot decode image"

CORPUS: dict[str, Case] = {
    # malformed ids
    "unbalanced [": Case(info("digits[per_class=4"), 2, "malformed dataset id 'digits[per_class=4'"),
    "unbalanced ]": Case(info("digits]"), 2, "malformed dataset id 'digits]'"),
    "nested brackets": Case(info("digits[a=[1]]"), 2, "malformed dataset id 'digits[a=[1]]'"),
    "empty option key": Case(info("digits[=4]"), 2, "malformed option '=4' in dataset id 'digits[=4]'"),
    "empty option value": Case(info("digits[per_class=]"), 2, "malformed option 'per_class=' in dataset id"),
    "duplicate option key": Case(
        info("digits[per_class=4,per_class=5]"),
        2,
        "duplicate option per_class in dataset id 'digits[per_class=4,per_class=5]': give it once",
    ),
    "homoglyph kind (Cyrillic i)": Case(info("d\u0456gits"), 2, "unknown dataset 'd\u0456gits': known kinds are"),
    "right-to-left override": Case(info("digits\u202e"), 2, "malformed dataset id 'digits\\u202e'"),
    "fullwidth digit option": Case(
        info("digits[per_class=\uff14]"), 2, "option per_class='\uff14' in dataset id 'digits[per_class=\uff14]' must"
    ),
    "zero-width space in model id": Case(
        run(model="pixels:\u200b4"), 1, "error in retrieval/pretrained pixels:\u200b4 on digits[per_class=4]: model id"
    ),
    "10k-character dataset id": Case(
        info(LONG), 2, f"dataset id '{'x' * 60}... (10000 characters)' is too long: at most 4096 characters"
    ),
    "10k-character model id": Case(
        run(model=f"timm:{LONG}"), 2, f"model id 'timm:{'x' * 55}... (10005 characters)' is too long"
    ),
    # unknown families and architectures
    "unknown family": Case(run(model="nope:resnet"), 2, "unknown model family 'nope' in model id 'nope:resnet'"),
    "unknown architecture": Case(
        run(model="timm:no_such_net[init=random]"),
        1,
        "error in retrieval/pretrained timm:no_such_net[init=random] on digits[per_class=4]: unknown timm model",
    ),
    "unknown dataset kind": Case(info("imagenet"), 2, "unknown dataset 'imagenet': known kinds are digits"),
    # dataset folders
    "missing folder": Case(prepare("folder:{tmp}/nowhere"), 2, "dataset folder '{tmp}/nowhere' does not exist"),
    "empty folder": Case(
        prepare("folder:{tmp}/shop"), 2, "dataset folder '{tmp}/shop' holds no images", lambda t: (t / "shop").mkdir()
    ),
    "folder is a file": Case(
        prepare("folder:{tmp}/f"), 2, "dataset folder '{tmp}/f' is not a directory", lambda t: (t / "f").touch()
    ),
    "non-image files only": Case(
        prepare("folder:{tmp}/shop"),
        2,
        "class folder '{tmp}/shop/a' holds no images (looked for",
        lambda t: [(t / "shop" / "a").mkdir(parents=True), (t / "shop" / "a" / "x.txt").write_text("x")],
    ),
    "zero-byte JPEGs only": Case(prepare("folder:{tmp}/shop"), 2, NONE_READABLE, all_bad("zero")),
    "truncated PNGs only": Case(prepare("folder:{tmp}/shop"), 2, NONE_READABLE, all_bad("truncated")),
    "decompression bombs only": Case(prepare("folder:{tmp}/shop"), 2, NONE_READABLE, all_bad("bomb")),
    "symlink loop": Case(
        prepare("folder:{tmp}/shop"), 2, "dataset folder '{tmp}/shop/boots/again' leads back to", symlink_loop
    ),
    "single class, retrieval": Case(
        run(dataset="folder:{tmp}/shop"),
        1,
        "error in retrieval/pretrained pixels:4 on folder:{tmp}/shop: split 'test' of 'folder:{tmp}/shop' has one",
        lambda t: shop(t / "shop", classes=("only",), per_class=4),
    ),
    "one image per class, retrieval": Case(
        run(dataset="folder:{tmp}/shop"),
        1,
        "error in retrieval/pretrained pixels:4 on folder:{tmp}/shop: dataset 'folder:{tmp}/shop' has no images in",
        lambda t: shop(t / "shop", per_class=1),
    ),
    # CSV datasets
    "CSV missing": Case(prepare("csv:{tmp}/l.csv"), 2, "dataset CSV '{tmp}/l.csv' does not exist"),
    "CSV empty file": Case(prepare("csv:{tmp}/l.csv"), 2, "dataset CSV '{tmp}/l.csv' is empty", csv("")),
    "CSV missing column": Case(
        prepare("csv:{tmp}/l.csv"), 2, "dataset CSV '{tmp}/l.csv' lacks column(s) label", csv("path\nboots/0.png\n")
    ),
    "CSV duplicate rows": Case(
        prepare("csv:{tmp}/l.csv"),
        2,
        "row 3 of '{tmp}/l.csv': image '{tmp}/boots/0.png' is already listed in row 2",
        csv("path,label\nboots/0.png,b\nboots/0.png,b\n"),
    ),
    "CSV not UTF-8": Case(
        prepare("csv:{tmp}/l.csv"),
        2,
        "dataset CSV '{tmp}/l.csv' is not UTF-8 text: byte 0xe9 on line 2; save it as UTF-8",
        csv(b"path,label\nboots/0.png,caf\xe9\n"),
    ),
    "CSV ../ path": Case(
        prepare("csv:{tmp}/l.csv"),
        2,
        "row 2 of '{tmp}/l.csv': image path '../x.png' points outside the CSV's folder",
        csv("path,label\n../x.png,a\n"),
    ),
    "CSV absolute path": Case(
        prepare("csv:{tmp}/l.csv"),
        2,
        "row 2 of '{tmp}/l.csv': image path '/etc/passwd' points outside the CSV's folder",
        csv("path,label\n/etc/passwd,a\n"),
    ),
    # options of the command line
    "--param of the wrong type": Case(
        run("--param", "split=5"), 2, "parameter split=5 of suite 'retrieval' must be text, like its default 'test'"
    ),
    "--param without =": Case(run("--param", "backend"), 2, "--param 'backend': expected KEY=VALUE"),
    "--batch-size 0": Case(run("--batch-size", "0"), 2, "ecombench run: Invalid value for '--batch-size'"),
    "--batch-size -3": Case(run("--batch-size", "-3"), 2, "ecombench run: Invalid value for '--batch-size'"),
    "--workers -1": Case(run("--workers", "-1"), 2, "ecombench run: Invalid value for '--workers'"),
    "prepare --workers -1": Case(
        lambda t: ["datasets", "prepare", "digits", "--workers", "-1"], 2, "ecombench datasets prepare: Invalid value"
    ),
    "--device banana": Case(run("--device", "banana"), 2, "--device 'banana' is not a torch device"),
    "--device cuda:99": Case(run("--device", "cuda:99"), 2, "--device 'cuda:99': "),
    "unknown option": Case(run("--colour", "red"), 2, "ecombench run: No such option: --colour"),
    # files and folders
    "suite file is a directory": Case(
        lambda t: ["grid", str(t)], 2, "suite file '{tmp}' is a directory, not a TOML file"
    ),
    "suite file not UTF-8": Case(
        lambda t: ["grid", f"{t}/s.toml"],
        2,
        "suite file '{tmp}/s.toml' is not UTF-8 text (byte 7)",
        lambda t: (t / "s.toml").write_bytes(b"[grid]\n\xff\n"),
    ),
    "results.duckdb is random bytes": Case(
        run(),
        2,
        "cannot open results database '{tmp}/r.duckdb'",
        lambda t: (t / "r.duckdb").write_bytes(os.urandom(4096)),
    ),
    "results.duckdb is a directory": Case(
        run(), 2, "cannot open results database '{tmp}/r.duckdb'", lambda t: (t / "r.duckdb").mkdir()
    ),
    "workdir is a file": Case(
        run(), 2, "workdir '{tmp}/wd' is a file, not a folder: give --workdir a folder", lambda t: (t / "wd").touch()
    ),
    "read-only workdir": Case(run(), 2, "cannot write in workdir '{tmp}/wd': Permission denied", workdir_read_only),
    # Milvus
    "--milvus-uri at a closed port": Case(
        run("--milvus-uri", "http://127.0.0.1:{closed}", "--backend", "milvus"),
        1,
        "error in retrieval/pretrained pixels:4 on digits[per_class=4]: ",
    ),
    "--milvus-uri at a silent port": Case(
        run("--milvus-uri", "http://127.0.0.1:{silent}", "--backend", "milvus"),
        1,
        "error in retrieval/pretrained pixels:4 on digits[per_class=4]: ",
    ),
}

if sys.platform.startswith("linux") or sys.platform == "darwin":
    import shutil

    if shutil.which("nvidia-smi") is None:
        CORPUS["--device cuda without a GPU"] = Case(run("--device", "cuda"), 2, "--device 'cuda': no CUDA GPU")

#: inputs that are odd but valid: accepted, and the odd part comes back intact
ACCEPTED: dict[str, tuple[Callable[[Path], list[str]], Callable[[Path], object], str]] = {
    "1x1 images": (
        prepare("folder:{tmp}/shop"),
        lambda t: [png(t / "shop" / c / f"{i}.png", (1, 1)) for c in "ab" for i in range(2)],
        "4 images",
    ),
    "class names with spaces, unicode and a newline": (
        prepare("folder:{tmp}/shop"),
        lambda t: shop(t / "shop", classes=("two words", "ünïcødé 鞋", "new\nline")),
        "ünïcødé 鞋",
    ),
    "CSV labels with commas and quotes": (
        prepare("csv:{tmp}/l.csv"),
        csv('path,label\nboots/0.png,"a, ""quoted"" label"\nboots/1.png,"a, ""quoted"" label"\nhats/0.png,plain\n'),
        'a, "quoted" label',
    ),
    "some images corrupt (excluded, named)": (
        prepare("folder:{tmp}/shop"),
        lambda t: [
            shop(t / "shop"),
            (t / "shop" / "boots" / "z.jpg").write_bytes(b""),
            bomb(t / "shop" / "hats" / "b.png"),
        ],
        "decompression bomb",
    ),
}


# --- the checks ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    """A closed port, and a port on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield {"closed": closed, "silent": silent.getsockname()[1]}
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    silent.close()


def ecombench(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``ecombench ARGS`` through the console entry point; (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["ecombench", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def results_rows(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:  # the planted non-database: untouched is checked by the caller
        return 0
    try:
        tables = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        return con.execute("SELECT count(*) FROM metrics").fetchone()[0] if "metrics" in tables else 0  # type: ignore[index]
    finally:
        con.close()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default workdir (.ecombench: prepared manifests) inside the test's folder
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "200")


SLOW = {"--milvus-uri at a silent port"}  # waits out the client's connection timeout (~20 s)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CORPUS])
def test_hostile_input_is_one_line_and_no_results(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    ports: dict[str, int],
) -> None:  # fmt: skip
    case = CORPUS[name]
    if case.plant:
        case.plant(tmp_path)
    if name == "read-only workdir" and os.access(tmp_path / "wd", os.W_OK):
        pytest.skip("running as a user who may write anywhere (root)")
    args = [
        a.replace("{closed}", str(ports["closed"])).replace("{silent}", str(ports["silent"]))
        for a in case.args(tmp_path)
    ]
    planted_db = (tmp_path / "r.duckdb").read_bytes() if (tmp_path / "r.duckdb").is_file() else None
    started = time.monotonic()
    code, _, err = ecombench(args, capsys)
    seconds = time.monotonic() - started
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.code, f"{name}: exit {code}, stderr {err!r}"
    assert len(lines) == 1, f"{name}: expected one line on stderr, got {err!r}"
    message = lines[0].removeprefix("error: ")
    assert message.startswith(case.message.replace("{tmp}", str(tmp_path))), f"{name}: {message!r}"
    assert "Traceback" not in err and not any("Traceback" in r.getMessage() for r in caplog.records), name
    assert not any(r.getMessage().startswith("unexpected failure") for r in caplog.records), caplog.text
    assert results_rows(tmp_path / "r.duckdb") == 0
    if planted_db is not None:
        assert (tmp_path / "r.duckdb").read_bytes() == planted_db  # the foreign file is left as it was
    if "milvus" in name:
        assert seconds < 60, f"{name}: took {seconds:.0f} s"  # the client's 30 s timeout (docs/robustness.md)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_odd_but_valid_input_is_accepted(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, plant, shown = ACCEPTED[name]
    plant(tmp_path)
    code, out, err = ecombench(args(tmp_path), capsys)
    assert code == 0, err
    [sidecar] = (tmp_path / ".ecombench" / "manifests").glob("*[0-9a-f].json")
    classes = [name for _, _, name, _ in json.loads(sidecar.read_text())["classes"]]
    assert shown in out + err or shown in classes, (out, err, classes)
    assert "Traceback" not in err


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs filled to the last byte; skipped where mounting is not allowed (not root)."""
    import subprocess

    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip() or done.returncode}")
    try:
        with (mount / "filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("command", ["prepare", "run"])
def test_a_full_disk_is_one_line(
    command: str, full_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop(tmp_path / "shop")
    db = tmp_path / "r.duckdb"
    if command == "prepare":
        args = ["datasets", "prepare", f"folder:{tmp_path / 'shop'}", "--workers", "0", "--db", str(db)]
        args += ["--workdir", str(full_disk / "home")]
    else:
        args = run(dataset=f"folder:{tmp_path / 'shop'}", model="pixels:4")(tmp_path)
        args[args.index("--workdir") + 1] = str(full_disk / "wd")
    code, _, err = ecombench(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot write '{full_disk}/") and "No space left on device" in lines[0]
    assert results_rows(db) == 0
