"""One ranking across datasets, with its uncertainty: per strategy, each model's mean rank over the datasets by
mMP@5, a bootstrap interval over datasets, and a win-rate matrix.

A mean of scores across datasets (MTEB's leaderboard) lets one easy dataset dominate; ranks do not. But a mean
rank over six datasets is itself uncertain, and the datasets are the sample: resampling them says how much the
ranking would move on another draw of datasets of the same kind.

Per strategy (the cross-tuned table is left out: its rows are model and source pairs, not models):

- **Block.** Ranks compare models on the same datasets, so the ranking uses a complete block: while a model
  lacks a value on some dataset, the model or dataset with the most missing values is dropped (a model on a
  tie); what was dropped is listed. A block needs 2 models and 2 datasets.
- **Rank.** On each dataset, 1 is the highest mMP@5; tied values share the mean of their ranks (scipy's
  ``rankdata(method="average")``).
- **Mean rank** of a model: its ranks averaged over the block's datasets. **Interval**: the 95% percentile
  bootstrap over datasets (``N_RESAMPLES`` resamples of the datasets with replacement, seed ``SEED``; each
  resample's mean rank per model).
- **Win rate** of model a over model b: the share of the block's datasets where a's mMP@5 is higher than b's,
  a tie counting one half. Row a, column b; the diagonal is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.report.data import PaperTable, ReportData
from harness.spec.metrics import label

METRIC = "mmp_at_5"
N_RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
SKIPPED_STRATEGIES = ("crosstuned",)


@dataclass(frozen=True)
class Ranked:
    model: str
    mean_rank: float
    low: float
    high: float
    random_init: bool


@dataclass(frozen=True)
class Ranking:
    strategy: str
    metric: str  # the column label ranked by (mMP@5)
    datasets: list[str]
    ranked: list[Ranked]  # best mean rank first
    wins: list[list[float | None]]  # wins[a][b], in the order of ``ranked``; None on the diagonal
    dropped_models: list[str]
    dropped_datasets: list[str]

    @property
    def models(self) -> list[str]:
        return [r.model for r in self.ranked]


def _block(values: dict[tuple[str, str], float], models: list[str], datasets: list[str]) -> tuple[list[str], list[str]]:
    """Drop the model or dataset with the most missing values until none is missing (a model on a tie)."""
    models, datasets = list(models), list(datasets)
    while models and datasets:
        missing_m = {m: sum((m, d) not in values for d in datasets) for m in models}
        missing_d = {d: sum((m, d) not in values for m in models) for d in datasets}
        worst_m = max(models, key=lambda m: missing_m[m])
        worst_d = max(datasets, key=lambda d: missing_d[d])
        if missing_m[worst_m] == 0:
            break
        if missing_m[worst_m] >= missing_d[worst_d]:
            models.remove(worst_m)
        else:
            datasets.remove(worst_d)
    return models, datasets


def ranks(scores: np.ndarray) -> np.ndarray:
    """(models, datasets) scores, higher better -> ranks per dataset (column), 1 best, ties averaged."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(-scores, method="average", axis=0), dtype=np.float64)


def win_rates(scores: np.ndarray) -> np.ndarray:
    """(models, models): share of datasets where row beats column, ties one half; NaN on the diagonal."""
    a, b = scores[:, None, :], scores[None, :, :]
    rates = ((a > b) + 0.5 * (a == b)).mean(axis=2)
    np.fill_diagonal(rates, np.nan)
    return rates


def bootstrap_mean_ranks(
    rank_matrix: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per model of the mean rank over datasets resampled with replacement."""
    n_datasets = rank_matrix.shape[1]
    draws = np.random.default_rng(seed).integers(0, n_datasets, size=(n_resamples, n_datasets))
    means = rank_matrix[:, draws].mean(axis=2)  # (models, resamples)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return low, high


def rank_table(table: PaperTable, metric: str = METRIC) -> Ranking | None:
    column = label(metric)
    datasets = [d for d, lab in table.columns if lab == column]
    rows = table.rows
    values = {(row.label, d): v.value for row in rows for (d, lab), v in row.values.items() if lab == column}
    all_models = [row.label for row in rows]
    models, kept = _block(values, all_models, datasets)
    if len(models) < 2 or len(kept) < 2:
        return None
    scores = np.array([[values[(m, d)] for d in kept] for m in models])
    rank_matrix = ranks(scores)
    mean = rank_matrix.mean(axis=1)
    low, high = bootstrap_mean_ranks(rank_matrix)
    random = {row.label: row.random_init for row in rows}
    order = sorted(range(len(models)), key=lambda i: (mean[i], models[i]))
    wins = win_rates(scores)
    return Ranking(
        strategy=table.strategy,
        metric=column,
        datasets=kept,
        ranked=[Ranked(models[i], float(mean[i]), float(low[i]), float(high[i]), random[models[i]]) for i in order],
        wins=[[None if a == b else float(wins[a, b]) for b in order] for a in order],
        dropped_models=[m for m in all_models if m not in models],
        dropped_datasets=[d for d in datasets if d not in kept],
    )


def rankings(data: ReportData) -> list[Ranking]:
    """One ranking per strategy table that has a complete block of 2 models x 2 datasets or more."""
    out = []
    for table in data.tables:
        if table.strategy in SKIPPED_STRATEGIES:
            continue
        ranking = rank_table(table)
        if ranking is not None:
            out.append(ranking)
    return out


def describe() -> str:
    return (
        f"Per strategy, models are ranked on each dataset by {label(METRIC)} (1 best, ties share the mean rank) and "
        f"the ranks averaged over the datasets all ranked models share. The interval is the {LEVEL:.0%} percentile "
        f"bootstrap over datasets ({N_RESAMPLES} resamples, seed {SEED}): how far the mean rank would move on "
        "another draw of datasets. The win rate of a row over a column is the share of those datasets where the "
        "row's model scores higher, a tie counting one half."
    )
