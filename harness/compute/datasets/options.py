"""Typed reading of dataset id options (``name[k=v]``), with errors that name the option and the id."""

from __future__ import annotations

from harness.core.errors import HarnessError
from harness.spec.ids import Ref

#: options of every dataset that draws its own split (folder, csv without a split column, digits, synthetic)
SPLIT_OPTIONS = frozenset({"test_fraction", "seed"})


def int_option(ref: Ref, key: str, default: int, minimum: int = 0) -> int:
    text = ref.option(key)
    if text is None:
        return default
    try:  # ASCII only: int() would read other scripts' digits, and the id would not be canonical
        value = int(text) if text.isascii() else minimum - 1
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise HarnessError(f"option {key}={text!r} in dataset id '{ref}' must be an integer >= {minimum}")
    return value


def fraction_option(ref: Ref, key: str, default: float) -> float:
    """A float strictly between 0 and 1."""
    text = ref.option(key)
    if text is None:
        return default
    try:
        value = float(text) if text.isascii() else -1.0
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise HarnessError(f"option {key}={text!r} in dataset id '{ref}' must be a number between 0 and 1")
    return value


def split_options(ref: Ref) -> tuple[float, int]:
    """``test_fraction`` (default 0.5) and ``seed`` (default 0) of a seeded stratified split."""
    return fraction_option(ref, "test_fraction", 0.5), int_option(ref, "seed", 0)


def given_split_options(ref: Ref) -> tuple[str, ...]:
    """The split options written in ``ref``: an error where the data brings its own split."""
    return tuple(key for key, _ in ref.options if key in SPLIT_OPTIONS)


def reject_split_options(dataset_id: str, given: tuple[str, ...], why: str) -> None:
    if given:
        raise HarnessError(f"option(s) {', '.join(given)} of dataset '{dataset_id}' do not apply: {why}")


def choice_option(ref: Ref, key: str, choices: tuple[str, ...], default: str) -> str:
    value = ref.option(key, default) or default
    if value not in choices:
        raise HarnessError(f"option {key}={value!r} in dataset id '{ref}' must be one of {', '.join(choices)}")
    return value
