"""Vectorised sampling helpers shared by traffic and conversion generation."""

from __future__ import annotations

import numpy as np

# Local hour-of-day activity (evening peak, quiet nights).
HOURLY = np.array([0.6, 0.35, 0.25, 0.2, 0.2, 0.3, 0.6, 1.0, 1.3, 1.4, 1.5, 1.6,
                   1.7, 1.6, 1.5, 1.5, 1.6, 1.8, 2.1, 2.4, 2.5, 2.2, 1.6, 1.0])
# Monday .. Sunday traffic multipliers (shoppers browse more at the weekend).
WEEKDAY = np.array([1.0, 0.96, 0.97, 1.0, 1.06, 1.22, 1.18])

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


class GroupedSampler:
    """Draw an item for each request from one of many weighted groups, all groups at once.

    Groups are stacked into one cumulative array where group g spans (g, g + 1]; a draw for group g is
    a search for g + u, u in (0, 1], so a single ``searchsorted`` serves every group.
    """

    def __init__(self, groups: list[np.ndarray]):
        cums, offsets = [], [0]
        for rank, weights in enumerate(groups):
            weights = np.asarray(weights, dtype=float)
            cum = np.cumsum(weights) / weights.sum()
            cum[-1] = 1.0  # exact upper edge, so draws never spill into the next group
            cums.append(cum + rank)
            offsets.append(offsets[-1] + len(weights))
        self._cum = np.concatenate(cums)
        self._offsets = np.array(offsets[:-1])

    def draw(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        """Index within its group of the item drawn for each entry of ``group``."""
        u = 1.0 - rng.random(len(group))
        flat = np.searchsorted(self._cum, group + u, side="left")
        return flat - self._offsets[group]


def local_times(rng: np.random.Generator, local_day: np.ndarray) -> np.ndarray:
    """Naive local timestamps (datetime64[ns]) within each given day, following HOURLY."""
    hours = rng.choice(24, size=len(local_day), p=HOURLY / HOURLY.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, size=len(local_day))
    return local_day.astype("datetime64[ns]") + seconds.astype("timedelta64[s]").astype("timedelta64[ns]")


def bernoulli(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    return rng.random(len(p)) < p
