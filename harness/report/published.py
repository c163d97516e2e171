"""Published figures beside ours (harness/report/published.toml), each with a verdict: per model and dataset where
a public table has a number for the same checkpoint, our pre-trained value next to it, the source's protocol, a
link to the source at its commit, and whether ours reproduces it.

Only pre-trained values are compared: every published figure listed is of the released weights, untuned.

An anchor's ``dataset`` is our dataset kind with the options our run must have (``cars196[split=classification]``):
a run matches when its dataset id has that kind and exactly those options, whatever its path. Its ``model`` is
our catalogue id, compared in canonical form (options sorted).

**Verdict.** ``not run``: no matching pre-trained cell is in the database. Otherwise the gap is how far the
published value lies outside our 95% bootstrap interval [low, high] (0 inside it; from our value where no
interval is stored); ``reproduced`` when the gap is at most the anchor's tolerance, else ``not reproduced``.
The tolerance is the source's reporting precision plus what two harnesses differ by (``DEFAULT_TOLERANCE``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from harness.core.errors import HarnessError
from harness.report.data import ReportData, Value
from harness.spec.ids import Ref, parse_ref
from harness.spec.metrics import label

REQUIRED = ("model", "dataset", "metric", "value", "protocol", "source")
#: the metric names of the text suites (text_retrieval, zeroshot)
TEXT_METRIC_PREFIXES = ("text_", "zeroshot_")
OPTIONAL = ("source_url", "commit", "definition", "tolerance")
#: one point of R@1 between two harnesses (image resizing library, a model's port); MIEB's and CLIP_benchmark's
#: zero-shot accuracies of the same CLIP ViT-B/16 weights on Cars differ by about that much
DEFAULT_TOLERANCE = 0.01
REPRODUCED, NOT_REPRODUCED, NOT_RUN = "reproduced", "not reproduced", "not run"


@dataclass(frozen=True)
class Published:
    model: str  # our catalogue id
    dataset: str  # our dataset kind, with the options a matching run has (sop, cars196[split=classification])
    metric: str  # our metric name
    value: float
    protocol: str
    source: str  # a short label; the link text where source_url is given
    source_url: str = ""
    commit: str = ""
    definition: str = ""  # the metric as the source defines it
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def short_commit(self) -> str:
        return self.commit[:7]

    @property
    def is_text(self) -> bool:
        """A text-suite figure: shown by the report's "Search by text" section (harness.report.text), not here."""
        return self.metric.startswith(TEXT_METRIC_PREFIXES)


@dataclass(frozen=True)
class SideBySide:
    published: Published
    dataset: str  # our dataset id the value came from ("" where not run)
    ours: Value | None

    @property
    def label(self) -> str:
        return label(self.published.metric)

    @property
    def delta(self) -> float | None:
        return None if self.ours is None else self.ours.value - self.published.value

    @property
    def gap(self) -> float | None:
        """How far the published value lies outside our interval (0 inside it); None where not run."""
        if self.ours is None:
            return None
        low = self.ours.value if self.ours.low is None else self.ours.low
        high = self.ours.value if self.ours.high is None else self.ours.high
        return max(0.0, low - self.published.value, self.published.value - high)

    @property
    def verdict(self) -> str:
        if self.gap is None:
            return NOT_RUN
        # a hair of slack for the float sums of an interval exactly tolerance away from the published value
        return REPRODUCED if self.gap <= self.published.tolerance + 1e-12 else NOT_REPRODUCED


def _entry(i: int, entry: dict[str, object]) -> Published:
    where = f"published.toml entry {i + 1}"
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        raise HarnessError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise HarnessError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})")
    model, dataset, metric, protocol, source = (str(entry[k]) for k in REQUIRED if k != "value")
    text = {k: str(entry.get(k, "")) for k in ("source_url", "commit", "definition")}
    try:
        value, tolerance = float(entry["value"]), float(entry.get("tolerance", DEFAULT_TOLERANCE))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise HarnessError(f"{where}: value and tolerance must be numbers") from None
    if tolerance < 0:
        raise HarnessError(f"{where}: tolerance {tolerance} must be >= 0")
    commit = text["commit"]
    if commit and (len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit)):
        raise HarnessError(f"{where}: commit {commit!r} must be 40 lower-case hex digits")
    try:
        model, dataset = str(parse_ref(model, "model")), str(parse_ref(dataset, "dataset"))
    except HarnessError as exc:
        raise HarnessError(f"{where}: {exc}") from None
    return Published(model, dataset, metric, value, protocol, source, tolerance=tolerance, **text)


def entries(text: str | None = None) -> list[Published]:
    """The table's entries; ``text`` (a TOML document) instead of the shipped file, for tests."""
    if text is None:
        text = resources.files("harness.report").joinpath("published.toml").read_text()
    return [_entry(i, entry) for i, entry in enumerate(tomllib.loads(text).get("published", []))]


def kind(dataset_id: str) -> str:
    """``sop:/data/Stanford_Online_Products`` -> ``sop``."""
    return dataset_id.partition(":")[0].partition("[")[0]


def _selector(ref: Ref) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ref.kind, ref.options


def matches(anchor_dataset: str, dataset_id: str) -> bool:
    """Whether our dataset id (``cars196:/data/cars[split=classification]``) is the anchor's dataset: the same
    kind and exactly the same options; the path does not matter."""
    try:
        ours = parse_ref(dataset_id, "dataset")
    except HarnessError:
        return False
    return _selector(ours) == _selector(parse_ref(anchor_dataset, "dataset"))


def side_by_side(data: ReportData, published: list[Published] | None = None) -> list[SideBySide]:
    """Every published entry the report's filters admit, with our newest pre-trained value (None: not run)."""
    table = data.table("pretrained")
    out = []
    for pub in entries() if published is None else published:
        if pub.is_text or data.filters.model not in (None, pub.model):
            continue
        if data.filters.strategy not in (None, "pretrained"):
            continue
        if data.filters.dataset is not None and kind(data.filters.dataset) != kind(pub.dataset):
            continue
        found: tuple[str, Value | None] = ("", None)
        for row in table.rows if table else []:
            if row.model != pub.model:
                continue
            for (dataset, lab), value in row.values.items():
                if lab == label(pub.metric) and matches(pub.dataset, dataset):
                    found = (dataset, value)
        out.append(SideBySide(pub, *found))
    return out


def tally(rows: list[SideBySide]) -> dict[str, int]:
    """Verdict -> number of anchors, in the order reproduced, not reproduced, not run."""
    return {v: sum(1 for r in rows if r.verdict == v) for v in (REPRODUCED, NOT_REPRODUCED, NOT_RUN)}
