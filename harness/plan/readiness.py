"""What a grid needs before it can run, checked without loading a model or reading an image: each model's
weights in the local cache (or not, with the command that fetches them), each dataset's root, the
annotation files of its layout, and whether it is prepared. ``ecombench plan`` shows it; ``bench-full``
refuses to start while anything is missing, listing all of it at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.plan.identity import Identities


@dataclass(frozen=True)
class ModelCheck:
    id: str
    present: bool
    note: str  # where the weights come from / why they are not needed


@dataclass(frozen=True)
class DatasetCheck:
    id: str
    root: str  # "" for a dataset generated from its id
    root_found: bool
    layout_ok: bool
    missing: tuple[str, ...]  # annotation files or folders of the layout that are not there
    prepared: bool
    source: str  # where to get it, for a missing one

    @property
    def ready(self) -> bool:
        return self.root_found and self.layout_ok


def check_models(model_ids: list[str]) -> list[ModelCheck]:
    from harness.compute.models import model_fingerprint, parse_model_id
    from harness.compute.models.weights import is_random

    checks = []
    for model_id in dict.fromkeys(model_ids):
        ref = parse_model_id(model_id)
        missing = bool(model_fingerprint(model_id)["missing"])
        if is_random(ref):
            note = "random init: no weights"
        elif missing:
            note = "not in the local cache: `ecombench weights fetch` downloads it"
        else:
            note = "in the local cache"
        checks.append(ModelCheck(model_id, not missing, note))
    return checks


def check_datasets(dataset_ids: list[str], workdir: Path) -> list[DatasetCheck]:
    from harness.compute.datasets import resolve_dataset
    from harness.compute.datasets.files import FileDataset
    from harness.compute.datasets.prepare import check_prepared

    checks = []
    for dataset_id in dict.fromkeys(dataset_ids):
        dataset = resolve_dataset(dataset_id, workdir)
        if not isinstance(dataset, FileDataset):
            checks.append(DatasetCheck(dataset.id, "", True, True, (), True, ""))
            continue
        try:
            missing = tuple(path for path, size, _ in dataset.fingerprint() if size < 0)
        except HarnessError as exc:  # the layout's base folder or first list is not there
            missing = (str(exc).split(": ", 1)[-1].split(". ")[0],)
        source = f"{dataset.SOURCE.title}: {dataset.SOURCE.url} ({dataset.SOURCE.how})" if dataset.SOURCE else ""
        prepared = not missing and check_prepared(dataset)[0] is not None
        found = Path(dataset.root).is_dir()
        checks.append(DatasetCheck(dataset.id, dataset.root, found, found and not missing, missing, prepared, source))
    return checks


@dataclass
class PreviewIdentities(Identities):
    """Fingerprints for a dry run: a dataset that is not there yet gets a provisional identity (its cells are
    planned, estimated and listed as blocked; their keys are computed again once the data is there)."""

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        try:
            return super().dataset(dataset_id)
        except HarnessError:
            return {"id": dataset_id, "files": "missing"}


def missing_summary(models: list[ModelCheck], datasets: list[DatasetCheck], spec: Path) -> str:
    """One message naming everything missing, or "" when nothing is."""
    lines = [f"weights of {m.id} are not in the local cache" for m in models if not m.present]
    if lines:
        lines.append(f"fetch them on a machine with internet access: `ecombench weights fetch {spec}`")
    for d in datasets:
        if not d.root_found:
            lines.append(f"dataset {d.id}: no folder '{d.root}'" + (f"; get it from {d.source}" if d.source else ""))
        elif not d.layout_ok:
            lines.append(f"dataset {d.id}: layout incomplete, missing {', '.join(d.missing)}")
    return "; ".join(lines)


def require_ready(models: list[ModelCheck], datasets: list[DatasetCheck], spec: Path) -> None:
    summary = missing_summary(models, datasets, spec)
    if summary:
        raise HarnessError(f"not ready to run {spec}: {summary}")
