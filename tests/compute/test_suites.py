"""The suite registry: every declaration agrees with its run module and with the registries it names, listing
suites imports nothing heavy, an unknown name is one clear error, and each declaration answers what the plan,
the estimate and the executors ask of it (Milvus, sub-jobs, precision, the machine)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import typing

import pytest

from harness.compute.retrieval.backends import MILVUS_TARGETS
from harness.compute.suites import SUITES, Context, get_suite, load_run, resolve_params
from harness.core.errors import HarnessError
from harness.spec.strategies import STRATEGIES, get_strategy
from harness.spec.suites import Suite
from harness.storage.subjobs import DONE_MARKERS

#: the names a run module once declared itself; where it still has one it must be the declaration's own object
DECLARED_NAMES = {
    "DEFAULTS": "defaults", "STRATEGIES": "strategies", "SWEEPS": "sweeps", "check_params": "check_params",
}  # fmt: skip


@pytest.mark.parametrize("name", list(SUITES))
def test_each_declaration_matches_its_run_module(name: str) -> None:
    suite = SUITES[name]
    assert isinstance(suite, Suite) and suite.name == name and suite.description
    module = importlib.import_module(suite.run_module)
    run = load_run(name)
    assert run is module.run
    [parameter] = inspect.signature(run).parameters.values()
    hints = typing.get_type_hints(run)
    assert hints[parameter.name] is Context and hints["return"] == dict[str, float]
    for attribute, field in DECLARED_NAMES.items():
        if hasattr(module, attribute):
            assert getattr(module, attribute) is getattr(suite, field), f"{suite.run_module}.{attribute}"
    assert not hasattr(module, "OWN_PRECISION")  # the declaration's own_precision is the one answer


@pytest.mark.parametrize("name", list(SUITES))
def test_each_declaration_names_only_what_exists(name: str) -> None:
    suite = SUITES[name]
    assert suite.strategies and set(suite.strategies) <= set(STRATEGIES)
    assert set(suite.sweeps) <= set(suite.defaults) | set(suite.optional)
    assert not set(suite.optional) & set(suite.defaults)  # an optional parameter is absent from the defaults
    assert set(suite.trains) <= set(DONE_MARKERS)  # the sub-job kinds the sub-job store knows
    for param in (suite.backend_param, suite.milvus_param, suite.training_gpus):
        assert param is None or param in suite.defaults
    assert suite.milvus_param is None or suite.backend_param is not None
    assert suite.defaults.get(suite.milvus_param or "", "lite") in MILVUS_TARGETS
    for strategy in suite.strategies:  # its defaults pass its own checks, with every strategy it accepts
        paired = get_strategy(strategy).paired
        params = resolve_params(name, strategy, {paired: "digits"} if paired else {})
        assert {k: params[k] for k in suite.defaults} == suite.defaults


def test_the_compression_reference_is_the_codecs_reference() -> None:
    from harness.compute.compression.codecs import REFERENCE

    assert get_suite("compression").defaults["compression"] == REFERENCE


def test_listing_suites_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from harness.compute.suites import SUITES, get_suite\n"
        "assert [get_suite(name).name for name in SUITES]\n"
        "print(sorted(m for m in ('torch', 'numpy', 'pymilvus', 'keras', 'sklearn', 'timm') if m in sys.modules))\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]", shown.stdout


def test_an_unknown_suite_names_the_known_ones() -> None:
    known = "retrieval, classification, cost, finetune, compression, leakage, text_retrieval, zeroshot, signals"
    with pytest.raises(HarnessError, match=rf"^unknown suite 'retreival' \(known: {known}\)$"):
        get_suite("retreival")
    with pytest.raises(HarnessError, match=r"^unknown suite 'retreival'"):
        load_run("retreival")


@pytest.mark.parametrize(
    ("name", "params", "milvus"),
    [
        ("retrieval", {"backend": "milvus", "milvus": "lite"}, "lite"),
        ("retrieval", {"backend": "milvus", "milvus": "server"}, "server"),
        ("retrieval", {"backend": "milvus"}, "lite"),
        ("retrieval", {"backend": "exact", "milvus": "server"}, None),
        ("compression", {"backend": "milvus", "milvus": "server"}, "server"),
        ("compression", {"backend": "milvus", "milvus": "lite"}, "lite"),
        ("compression", {"backend": "exact", "milvus": "server"}, None),
        ("leakage", {"backend": "milvus"}, "lite"),  # no milvus parameter: Milvus Lite
        ("leakage", {"backend": "exact"}, None),
        ("cost", {"backend": "milvus", "milvus": "server"}, None),  # no search at all
        ("classification", {}, None),
    ],
)
def test_the_declaration_says_which_milvus_a_cell_needs(name: str, params: dict[str, str], milvus: str | None) -> None:
    suite = get_suite(name)
    assert suite.milvus(params) == milvus


def test_the_declarations_carry_what_the_plan_used_to_branch_on() -> None:
    """The facts harness.plan and harness.execute once spelt as suite-name comparisons, now declared."""
    owners = {
        "own_precision": {"compression", "leakage"},
        "measures_machine": {"cost"},
        "sweeps": {"compression", "retrieval", "text_retrieval", "zeroshot"},
        "training_gpus": {"finetune"},
        "text_fields": {"retrieval", "text_retrieval", "zeroshot"},
        "optional": {"retrieval"},
    }
    for field, names in owners.items():
        assert {name for name, suite in SUITES.items() if getattr(suite, field)} == names, field
    assert {name: suite.trains for name, suite in SUITES.items() if suite.trains} == {
        "classification": ("toptune",),
        "finetune": ("finetune",),
    }
    assert {name for name, suite in SUITES.items() if not suite.extracts} == {"cost", "finetune"}
    assert get_suite("compression").sweeps == ("compression", "forward_precision", "index")
    assert get_suite("finetune").training_gpus == "gpus"
    assert get_suite("retrieval").sweeps == ("image_weight",)  # fused documents: only when given, not 1
    assert get_suite("retrieval").texts_needed({"image_weight": 0.9}) == ("title",)
    assert get_suite("retrieval").texts_needed(resolve_params("retrieval", "pretrained", {})) == ()
