"""Published figures beside ours (harness/report/published.toml): per model and dataset where a public table has
a number for the same checkpoint, our pre-trained value next to it, with the source's protocol and the source.

Only pre-trained values are compared: every published figure listed is of the released weights, untuned.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from harness.core.errors import HarnessError
from harness.report.data import ReportData, Value
from harness.spec.metrics import label

REQUIRED = ("model", "dataset", "metric", "value", "protocol", "source")


@dataclass(frozen=True)
class Published:
    model: str  # our catalogue id
    dataset: str  # our dataset kind (sop, cars196, ...)
    metric: str  # our metric name
    value: float
    protocol: str
    source: str


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


def entries(text: str | None = None) -> list[Published]:
    """The table's entries; ``text`` (a TOML document) instead of the shipped file, for tests."""
    if text is None:
        text = resources.files("harness.report").joinpath("published.toml").read_text()
    out = []
    for i, entry in enumerate(tomllib.loads(text).get("published", [])):
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise HarnessError(f"published.toml entry {i + 1}: missing {', '.join(missing)}")
        model, dataset, metric, protocol, source = (str(entry[k]) for k in REQUIRED if k != "value")
        out.append(Published(model, dataset, metric, float(entry["value"]), protocol, source))
    return out


def kind(dataset_id: str) -> str:
    """``sop:/data/Stanford_Online_Products`` -> ``sop``."""
    return dataset_id.partition(":")[0].partition("[")[0]


def side_by_side(data: ReportData, published: list[Published] | None = None) -> list[SideBySide]:
    """Every published entry the report's filters admit, with our newest pre-trained value (None: not run)."""
    table = data.table("pretrained")
    out = []
    for pub in entries() if published is None else published:
        if data.filters.model not in (None, pub.model):
            continue
        if data.filters.strategy not in (None, "pretrained"):
            continue
        found: tuple[str, Value | None] = ("", None)
        for row in table.rows if table else []:
            if row.model != pub.model:
                continue
            for (dataset, lab), value in row.values.items():
                if kind(dataset) == pub.dataset and lab == label(pub.metric):
                    found = (dataset, value)
        if data.filters.dataset is not None and kind(data.filters.dataset) != pub.dataset:
            continue
        out.append(SideBySide(pub, *found))
    return out
