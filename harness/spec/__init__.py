"""What to run, as pure types: no torch, no I/O (import-linter forbids the heavy libraries here).

ids (the one id grammar for models and datasets), cells (a cell of a grid and the spec an executor hands on),
strategies (pretrained, toptuned, finetuned, crosstuned), params (parameter types), metrics (the metric
registry: one declaration per metric any suite emits).
"""
