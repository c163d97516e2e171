"""What a recommendation and a replay hand to the report (harness.report.recommend) and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.compute.selection.racing import RaceResult
from harness.compute.selection.scoring import Score
from harness.compute.selection.tuning import FinetunePrediction, TuningGain


@dataclass
class Recommendation:
    dataset: str
    race: RaceResult
    signals: dict[str, dict[str, float]]  # candidate -> signal -> value, on the first stage's sample
    signal_sample: int  # images per candidate the signals saw
    grid_estimate_s: float | None  # the dry run's device-seconds for the full grid; None where it has none
    grid_images: int  # images the full grid would embed
    budget_s: float | None = None
    tuning: list[TuningGain] = field(default_factory=list)
    finetune: list[FinetunePrediction] = field(default_factory=list)  # one per entry of ``tuning``
    notes: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float | None:
        """Device time spent over the full grid's estimate."""
        return None if not self.grid_estimate_s else self.race.seconds / self.grid_estimate_s


@dataclass
class Replay:
    dataset: str
    candidates: int
    grid_seconds: float
    scores: list[Score]
    race: RaceResult
