"""Full fine-tuning of a timm backbone on a dataset's training split, resumable, single- or multi-GPU.

``recipe`` reads the presets (harness/presets/finetune.toml), ``checkpoints`` saves and restores training state in
safetensors files, ``loop`` is the training loop itself (one process, or one rank of a torchrun launch),
and ``job`` ties them to the harness: a job is keyed by everything that determines its weights, trains or
resumes in its own folder, and yields the fine-tuned backbone as a ``checkpoint:`` model.
"""
