"""The documentation stays navigable: the README is a front door, every page of the site is in its navigation,
the generated CLI reference documents every command and option, ``ecombench --help`` (and each group's) lists a
command in one line, and no tracked file names a tracker issue or a path of our build machines."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from harness.cli import app
from support import REPO

DOCS = REPO / "docs"
README_MAX_LINES = 250


def _hook() -> Any:
    """docs/hooks/cli_reference.py, the MkDocs hook that renders docs/cli.md (not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "hooks" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


def test_the_readme_is_a_front_door() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move reference into docs/"
    for target in re.findall(r"\]\(((?!https?://|#)[^)#\s]+)", "\n".join(lines)):
        assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"


def test_every_docs_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    nav = set(_nav_pages(config["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert sorted(pages - nav) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(nav - pages) == [], "nav entries without a page"
    assert (DOCS / "cli.md").read_text().count(_hook().MARKER) == 1


def test_the_cli_reference_documents_every_command_and_option() -> None:
    hook = _hook()
    text = hook.render()
    root = typer.main.get_command(app)
    for path in hook.command_paths():
        assert f"`{' '.join(('ecombench', *path))}`" in text, path
        command = root
        for name in path:
            command = command.commands[name]
        for param in (p for p in command.params if not getattr(p, "hidden", False)):
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"`{opt}" in text, f"ecombench {' '.join(path)} {opt} is not in the CLI reference"
    assert "| `--milvus-sidecar <str>` |" in text
    assert "<workdir>" not in text.replace("`", "")  # escaped, so Markdown does not take it for HTML


PRICED = ("device_s", "device_hours", "gpu_hours", "price_usd", "usd_per_hour")


def test_every_declared_metric_is_defined_on_the_metrics_page() -> None:
    """The metric definitions live in one page: each name the registry declares is there (an interval through its
    metric, a priced figure through its phase's prefix)."""
    from harness.spec.metrics import METRICS

    page = (DOCS / "metrics.md").read_text()

    def defined(name: str) -> bool:
        base, interval = re.subn(r"_ci_(low|high)$", "", name)
        if interval:
            return f"`{base}`" in page and "`<metric>_ci_low`" in page
        phase = next((name[: -len(s)] for s in PRICED if name.endswith(s)), None)
        return f"`{name}`" in page or (phase is not None and f"`{phase}`" in page)

    assert [name for name in sorted(METRICS) if not defined(name)] == []


@pytest.mark.parametrize("group", [(), ("models",), ("datasets",), ("containers",), ("weights",), ("milvus",)])
def test_each_command_is_one_line_in_its_group_s_help_at_80_columns(group: tuple[str, ...]) -> None:
    env = {"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    result = CliRunner().invoke(app, [*group, "--help"], prog_name="ecombench", env=env, terminal_width=80)
    assert result.exit_code == 0, result.output
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", result.stdout)  # FORCE_COLOR / GITHUB_ACTIONS force colours
    panel = text.split("Commands")[1].split("╰")[0].splitlines()[1:]
    rows = [line for line in panel if line.startswith("│")]
    continued = [line for line in rows if line[1:].startswith("  ") and line.strip("│ ")]
    named = [line.split()[1] for line in rows if not line[1:].startswith("  ")]
    assert continued == [], f"ecombench {' '.join(group)} --help wraps a command's help:\n" + "\n".join(rows)
    command = typer.main.get_command(app)
    for name in group:
        command = command.commands[name]
    assert named == list(command.commands)


# A tracker reference (the word issue or issues followed by a number, or # and a number) means nothing to a
# reader of the repository; /work/... and /root/... are folders of our build machines (a container's
# /ecombench/work is not). This file, which spells the patterns' examples, is the one file not scanned.
#: the number in the examples of a tracker reference below (any number would do)
TRACKER_NUMBER = 7
TRACKER = re.compile(r"\bissues?\s+#?\d+|(?<![\w&/#])#\d{1,5}\b", re.IGNORECASE)
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root)/")


def test_no_tracked_file_names_a_tracker_issue_or_a_build_machine_path() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    found = []
    for name in tracked.stdout.split("\0"):
        path = REPO / name
        if name in ("", "uv.lock", "tests/test_docs.py") or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:  # a binary fixture
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if TRACKER.search(line) or MACHINE_PATH.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert found == []


@pytest.mark.parametrize(
    "line, bad",
    [
        (f"fixed in issue {TRACKER_NUMBER}", True),
        (f"see Issues #{TRACKER_NUMBER}", True),
        (f"(#{TRACKER_NUMBER})", True),
        ("cd /work/main && make", True),
        ("HOME=/root/x", True),
        ("https://github.com/facebookresearch/dino/issues/11", False),
        ("color: #1f77b4; fill: #123456", False),
        ("--workdir /ecombench/work", False),
        ("&#8212; an entity", False),
    ],
)
def test_the_scan_tells_references_from_ordinary_text(line: str, bad: bool) -> None:
    assert bool(TRACKER.search(line) or MACHINE_PATH.search(line)) is bad


def test_every_docs_page_a_tracked_file_names_exists() -> None:
    """Code and comments point readers at docs/<page>.md: each such page exists (a page renamed or merged into
    another leaves no dangling pointer)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    missing = []
    for name in tracked.stdout.split("\0"):
        path = REPO / name
        if not name.endswith((".py", ".toml", ".sh", ".md", ".yml", ".yaml", ".txt", ".cfg")) or not path.is_file():
            continue
        for page in re.findall(r"\bdocs/[\w-]+\.md\b", path.read_text(errors="replace")):
            if not (REPO / page).exists():
                missing.append(f"{name}: {page}")
    assert missing == []
