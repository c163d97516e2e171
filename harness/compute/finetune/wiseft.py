"""WiSE-FT (Wortsman et al., CVPR 2022): a fine-tune's weights blended with its starting point's, no training
of its own. ``torch.lerp(pre, fine, alpha)`` is exact at both ends: alpha 0 gives the pre-trained backbone bit
for bit, alpha 1 the fine-tuned one. The fine-tune's new classifier is kept as trained (the starting point's
is another, untrained one); non-float buffers (batch-norm counters) are the fine-tune's; float buffers
(running statistics) are blended like the weights."""

from __future__ import annotations

from pathlib import Path

import torch

from harness.compute.finetune import checkpoints
from harness.compute.finetune.adapt import classifier_name
from harness.compute.finetune.spec import read_spec
from harness.storage.subjobs import SubJobFiles


def blended_path(job_dir: Path, alpha: float) -> Path:
    return job_dir / f"wiseft-{alpha:.6g}.safetensors"


def blend(job_dir: Path, alpha: float) -> Path:
    """The finished fine-tune in ``job_dir`` blended at ``alpha``, written once beside its done marker (under
    the job's lock) with the marker's metadata, so its ``checkpoint:`` model embeds with the same preprocessing."""
    files = SubJobFiles.at(job_dir)
    target = blended_path(job_dir, alpha)
    with files.locked(f"WiSE-FT blend alpha={alpha:g} of {job_dir.name}"):
        if not target.exists():
            tensors, meta = checkpoints.load(files.marker)
            start = read_spec(job_dir).build_model()
            head, pre = classifier_name(start) + ".", start.state_dict()
            mixed = {
                name: torch.lerp(pre[name], fine, alpha)
                if name in pre and fine.is_floating_point() and not name.startswith(head)
                else fine
                for name, fine in tensors.items()
            }
            checkpoints.save(target, mixed, {**meta, "wiseft_alpha": alpha})
    return target
