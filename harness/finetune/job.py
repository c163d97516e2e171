"""A fine-tuning job: what it trains (keyed by everything that determines the weights), where, and how.

A job lives in ``<workdir>/finetune/<key>/``: ``job.json`` (its spec), epoch checkpoints while it runs,
``final.safetensors`` when done. Several GPUs: the job runs under torchrun, one process per GPU, and the
calling process waits; the final checkpoint is then loaded as a ``checkpoint:`` model like any other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.finetune import checkpoints

if TYPE_CHECKING:
    import torch

    from harness.datasets.base import Dataset
    from harness.models.base import EmbeddingModel

log = logging.getLogger(__name__)
#: bump when the training loop changes what a recipe produces
LOOP_FORMAT = 1
#: model families whose backbone is a timm architecture (what the fine-tuning loop builds)
TIMM_FAMILIES = ("timm", "checkpoint")


@dataclass(frozen=True)
class JobSpec:
    base_model: str  # canonical model id of the starting point
    architecture: str  # the timm architecture to build
    base_weights: str  # weights digest of the starting point
    random_init: bool
    dataset: str
    manifest: str  # manifest digest of the dataset trained on
    num_classes: int
    recipe: dict[str, Any]
    recipe_name: str
    seed: int

    @property
    def key(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if k != "recipe_name"}  # the contents count, not the name
        fields["format"] = LOOP_FORMAT
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        return f"fine-tune of {self.base_model} on {self.dataset} ({self.recipe_name})"

    @classmethod
    def plan(cls, model: EmbeddingModel, dataset: Dataset, recipe_name: str, seed: int) -> JobSpec:
        from harness.finetune.recipe import load_recipe
        from harness.ids import parse_ref

        ref = parse_ref(model.model_id, "model")
        if ref.kind not in TIMM_FAMILIES:
            raise HarnessError(
                f"full fine-tuning builds timm architectures; model '{model.model_id}' is of family '{ref.kind}' "
                f"(supported: {', '.join(TIMM_FAMILIES)})"
            )
        manifest = dataset.manifest()
        return cls(
            base_model=model.model_id,
            architecture=ref.name.partition("@")[0],
            base_weights=model.weights_digest,
            random_init=model.random_init,
            dataset=dataset.id,
            manifest=manifest.digest,
            num_classes=manifest.num_classes,
            recipe=load_recipe(recipe_name).as_dict(),
            recipe_name=recipe_name,
            seed=seed,
        )

    def build_model(self) -> torch.nn.Module:
        """The architecture with a fresh ``num_classes`` head, holding the starting point's exact weights."""
        import timm

        from harness.models import load_model
        from harness.models.checkpoint_family import is_head

        base = load_model(self.base_model)
        if base.weights_digest != self.base_weights:
            raise HarnessError(f"the weights of '{self.base_model}' changed since the fine-tune was planned")
        extra = {"drop_path_rate": self.recipe["drop_path"]} if self.recipe["drop_path"] else {}
        model = timm.create_model(self.architecture, pretrained=False, num_classes=self.num_classes, **extra)
        state = {k: v for k, v in base.module.state_dict().items() if not is_head(model, k)}
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys or not all(is_head(model, k) for k in result.missing_keys):
            raise HarnessError(f"cannot start a fine-tune of '{self.architecture}' from '{self.base_model}'")
        return model


def run_job(spec: JobSpec, job_dir: Path, device: str, gpus: int, restart: bool) -> dict[str, Any]:
    """Train the job to its end (resuming a killed run), unless it has finished; returns the final metadata."""
    final = job_dir / "final.safetensors"
    if restart and job_dir.exists():
        shutil.rmtree(job_dir)
    if not final.exists():
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "job.json").write_text(json.dumps(spec.as_dict(), indent=2))
        if gpus > 1:
            _torchrun(job_dir, device, gpus)
        else:
            from harness.finetune.loop import train

            train(job_dir, spec, device)
    return checkpoints.read_metadata(final)


def _torchrun(job_dir: Path, device: str, gpus: int) -> None:
    """One process per GPU (gloo processes on a CPU-only machine); their output streams through."""
    command = [
        sys.executable, "-m", "harness.procs", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}",
        "-m", "harness.finetune.worker", str(job_dir), device,
    ]  # fmt: skip
    log.info("launching %d training processes: %s", gpus, " ".join(command))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise HarnessError(f"fine-tuning processes failed (exit code {done.returncode}); their output is above")


def read_spec(job_dir: Path) -> JobSpec:
    try:
        return JobSpec(**json.loads((job_dir / "job.json").read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise HarnessError(f"'{job_dir}' holds no readable fine-tuning job (job.json): {exc}") from exc


def finished_jobs(workdir: Path) -> list[dict[str, Any]]:
    """The fine-tunes finished under ``workdir``, as models: id, starting point, data, recipe, last held-out
    accuracy. Reads only the checkpoints' headers (no torch import)."""
    found = []
    for final in sorted((workdir / "finetune").glob("*/final.safetensors")):
        meta = checkpoints.read_metadata(final)
        spec, curve = meta["spec"], meta["curve"]
        found.append(
            {
                "id": f"checkpoint:{spec['architecture']}@{final.resolve()}",
                "base": spec["base_model"],
                "dataset": spec["dataset"],
                "preset": spec["recipe_name"],
                "epochs": meta["epoch"],
                "val_accuracy": curve[-1].get("val_accuracy") if curve else None,
            }
        )
    return found
