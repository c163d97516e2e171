"""Golden keys: every cell of every (suite x strategy) pair today's code accepts, with the keys of the sub-jobs
(top-tune heads, fine-tunes) it consumes, and an embedding-cache and an image-cache key, equal to the checked-in
ones. A changed key recomputes every stored result: only ever on purpose (see regenerate.py)."""

from __future__ import annotations

import json

import golden_support as g
import pytest

EXPECTED = json.loads(g.KEYS_JSON.read_text())
#: the (suite, strategy) pairs today's suites accept (harness/suites/*.py STRATEGIES)
ACCEPTED = {
    ("retrieval", "pretrained"), ("retrieval", "toptuned"), ("retrieval", "finetuned"), ("retrieval", "crosstuned"),
    ("classification", "pretrained"), ("classification", "finetuned"),
    ("cost", "pretrained"),
    ("compression", "pretrained"), ("compression", "toptuned"), ("compression", "finetuned"),
    ("leakage", "pretrained"), ("leakage", "toptuned"), ("leakage", "finetuned"),
    ("finetune", "finetuned"),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _torch_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the default backend stays out of head keys


def test_key_inputs_from_outside_the_repository_are_the_fixture_s() -> None:
    """The model library's and Pillow's versions enter the keys: a lock bump is a key change, not a bug."""
    assert g.key_inputs() == EXPECTED["inputs"], "a key input changed: regenerate the fixtures on purpose only"


def test_the_fixture_covers_every_accepted_pair_and_both_subjob_kinds() -> None:
    cells = EXPECTED["cells"]
    assert {(c["suite"], c["strategy"]) for c in cells} == ACCEPTED
    kinds = {job["kind"] for c in cells for job in c["subjobs"]}
    assert kinds == {"finetune", "toptune"}
    assert len({c["key"] for c in cells}) == len(cells)  # no two cells share a key


def test_cell_and_subjob_keys_are_the_golden_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    got = g.all_keys(tmp_path)["cells"]
    assert len(got) == len(EXPECTED["cells"])
    for mine, golden in zip(got, EXPECTED["cells"], strict=True):
        assert mine == golden, f"{golden['suite']}/{golden['strategy']} on {golden['dataset']}"


def test_plan_json_gives_the_same_keys(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The CLI keys cells as the plan does (cost cells aside: the CLI keys in this machine's CPU model)."""
    monkeypatch.setattr(g, "PLAN_SUITE", g.KEYS_SUITE)
    lines = [json.loads(line) for line in g.plan_lines(tmp_path)]
    golden = {c["key"]: c for c in EXPECTED["cells"]}
    non_cost = [line for line in lines if line["cell"]["suite"] != "cost"]
    assert len(lines) == 30  # keys_suite.toml: 15 cells per dataset, 2 of them cost cells
    assert len(non_cost) == 28
    for line in non_cost:
        assert line["key"] in golden
        assert [(j["kind"], j["key"]) for j in line["subjobs"]] == [
            (j["kind"], j["key"]) for j in golden[line["key"]]["subjobs"]
        ]


def test_cache_keys_are_the_golden_ones() -> None:
    assert g.cache_keys() == json.loads(g.CACHE_KEYS_JSON.read_text())
