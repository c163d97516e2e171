"""The package's layers: imports go down only (import-linter's contracts in pyproject.toml, as `nox -s lint`
checks them), no module imports itself back through others, and no folder name of the workdir is spelled
outside harness.storage.workdir."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

from harness.storage.workdir import Workdir
from support import REPO


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module: each is an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    # type-checking imports count too: a cycle through annotations is still two modules that need each other
    graph = grimp.build_graph("harness", cache_dir=None)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert strongly_connected(imports) == []


def test_layer_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"Contracts: (\d+) kept, 0 broken", done.stdout), done.stdout[-1000:]


def test_workdir_folders_are_named_in_one_place() -> None:
    names = {p.name for p in (Workdir(Path("w")).shards, Workdir(Path("w")).manifests)}
    assert names == {"shards", "manifests"}
    # a path joined with a workdir folder's name; a dataset's own layout (images/ of Fashion) is not the workdir's
    spelled = re.compile(r'/\s*"(shards|manifests|embeddings|images|locks|per_query|neighbours|milvus|milvus-server|'
                         r'pruned|containers|toptune|finetune)"')  # fmt: skip
    layouts = {"workdir.py", "replicas.py", "fashion.py"}
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in sorted((REPO / "harness").rglob("*.py"))
        if path.name not in layouts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line) and not re.search(r'REPO /|"bin" /', line)  # the repository's and Milvus's own
    ]
    assert offenders == []


def test_tests_import_helpers_from_support_never_from_one_another() -> None:
    leaning = re.compile(r"^\s*(from|import) (conftest|tests\.|test_)", re.M)
    offenders = [
        str(p.relative_to(REPO)) for p in sorted((REPO / "tests").rglob("*.py")) if leaning.search(p.read_text())
    ]
    assert offenders == []
