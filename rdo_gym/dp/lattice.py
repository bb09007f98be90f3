"""The reward lattice and the stock grid used by exact distributional DP (gamma = 1).

Exact categorical DP needs every reward (with positive probability) to be an integer multiple of
one ``step``; the stock then moves on the lattice ``base + step * Z``. All indices here are in
*units* of ``step``. The grid's range is sized by :mod:`rdo_gym.dp.kernel` from prefix-sum bounds
of the rewards, so it never needs clipping on the cells whose values are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rdo_gym.dp.model import TabularMDP

__all__ = ["RewardLattice", "StockGrid", "reward_lattice", "base_units"]

_MAX_DENOMINATOR = 10_000
_LATTICE_RTOL = 1e-9


@dataclass(frozen=True)
class RewardLattice:
    """``reward = step * units`` for every outcome (``units`` is an int64 array (S, A, M))."""

    step: float
    units: np.ndarray


def reward_lattice(mdp: TabularMDP) -> RewardLattice:
    """Find the coarsest ``step`` with all positive-probability rewards integer multiples of it.

    Rewards are read as fractions with denominator at most 10,000 (1/3, 0.25, 0.1 work). Raises
    ``ValueError`` naming an offending reward if there is no such lattice.
    """
    live = mdp.prob > 0
    values = np.unique(mdp.reward[live])
    fractions = []
    for v in values:
        fr = Fraction(float(v)).limit_denominator(_MAX_DENOMINATOR)
        if abs(float(fr) - v) > _LATTICE_RTOL * max(1.0, abs(v)):
            raise ValueError(
                f"reward {v!r} is not a rational number with denominator <= {_MAX_DENOMINATOR}: exact "
                "distributional DP needs rewards on a lattice (integer multiples of one step). Round "
                "the rewards (e.g. TabularMDP(prob, next_state, np.round(reward, 2), ...)) and account "
                "for the rounding error yourself: at most horizon * max|rounding| on the return"
            )
        fractions.append(fr)
    den = 1
    for fr in fractions:
        den = den * fr.denominator // math.gcd(den, fr.denominator)
    nums = [int(fr * den) for fr in fractions]
    g = 0
    for n in nums:
        g = math.gcd(g, abs(n))
    step = 1.0 if g == 0 else g / den
    units = np.where(live, np.round(mdp.reward / step), 0).astype(np.int64)
    return RewardLattice(step=float(step), units=units)


@dataclass(frozen=True)
class StockGrid:
    """Stocks ``step * (base_units + offset + k)`` for ``k = 0 .. size - 1``.

    ``base_units`` is an integer when the reference stock is a lattice point, so that
    ``stock + G`` is computed exactly (e.g. exactly 0 when a threshold is hit).
    """

    base_units: float
    step: float
    offset: int
    size: int

    def values(self, extra_units: np.ndarray | int = 0) -> np.ndarray:
        """Stock values of all grid cells, shifted by ``extra_units`` lattice steps."""
        k = self.offset + np.arange(self.size) + np.asarray(extra_units)
        return self.step * (self.base_units + k)

    def index(self, stocks: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Grid index of each stock and whether it is on the lattice and inside the grid."""
        x = np.asarray(stocks, dtype=np.float64) / self.step - self.base_units
        u = np.round(x)
        on_lattice = np.abs(x - u) <= 1e-7 * np.maximum(1.0, np.abs(x))
        k = u.astype(np.int64) - self.offset
        ok = on_lattice & (k >= 0) & (k < self.size)
        return np.where(ok, k, 0), ok


def base_units(stock: float, step: float) -> float:
    """``stock / step``, rounded to the exact integer when it is one (up to float rounding)."""
    u = stock / step
    return float(round(u)) if abs(u - round(u)) <= 1e-9 * max(1.0, abs(u)) else float(u)
