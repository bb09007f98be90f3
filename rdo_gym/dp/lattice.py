"""The reward lattice and the stock grid used by exact distributional DP (gamma = 1).

Exact categorical DP needs every reward (with positive probability) to be an integer multiple of
one `step`; the stock then moves on the lattice `base + step * Z`. All indices here are in
*units* of `step`. The grid's range is sized by [`rdo_gym.dp.kernel`][rdo_gym.dp.kernel] from prefix-sum bounds
of the rewards, so it never needs clipping on the cells whose values are reported.

Snapping to the lattice is limited to float rounding: a reward is read as the fraction `p / q`
(`q <= 10,000`) nearest to it only when it lies within `LATTICE_RTOL` (64 ulps, about
1.4e-14) times the largest reward magnitude of it, e.g. `0.1 + 0.2` is read as 0.3; a reward
farther from every such fraction (`1 - 1e-9`) is refused rather than rounded, since rounding it
would change the results (`P(G >= 3)` of three such rewards is 0, not 1). An initial stock is
snapped to a lattice point within the same relative tolerance (of its size in units). Stocks
*asked of a policy* are looked up more leniently (`LOOKUP_RTOL`): they are sums the caller
accumulated in floats over an episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rdo_gym.dp.model import TabularMDP

__all__ = ["RewardLattice", "StockGrid", "reward_lattice", "base_units", "lattice_units",
           "LATTICE_RTOL", "LOOKUP_RTOL", "MAX_DENOMINATOR"]

MAX_DENOMINATOR = 10_000
"""Largest denominator of a reward read as a fraction (1/3, 0.25, 0.1 work; 1e-5 does not)."""
LATTICE_RTOL = 64 * float(np.finfo(np.float64).eps)
"""Relative tolerance of snapping a reward or an initial stock to the lattice: 64 ulps, float rounding only
(relative to the largest reward magnitude, or to the stock in lattice units).
"""
MAX_UNITS = 2.0**50
"""Largest magnitude, in lattice steps, of a reward or an initial stock (float64 stays exact)."""
LOOKUP_RTOL = 1e-7
"""Relative tolerance of looking up a stock in a [`StockGrid`][rdo_gym.dp.lattice.StockGrid] (a policy's
argument).
"""


@dataclass(frozen=True)
class RewardLattice:
    """`reward = step * units` for every outcome (`units` is an int64 array (S, A, M))."""

    step: float
    units: np.ndarray


def reward_lattice(mdp: TabularMDP) -> RewardLattice:
    """Find the coarsest `step` with all positive-probability rewards integer multiples of it.

    Rewards are read as fractions with denominator at most `MAX_DENOMINATOR`, within
    `LATTICE_RTOL` times the largest reward magnitude (float rounding, see the module doc).

    Args:
        mdp: the model.

    Raises:
        ValueError: naming an offending reward if there is no such lattice.
    """
    live = mdp.prob > 0
    values = np.unique(mdp.reward[live])
    scale = float(np.abs(values).max(initial=0.0))
    fractions = []
    for v in values:
        fr = Fraction(float(v)).limit_denominator(MAX_DENOMINATOR)
        gap = abs(float(fr) - float(v))
        if gap > LATTICE_RTOL * scale:
            near = (f"it is {gap:.3g} from {fr}, farther than float rounding (tolerance {LATTICE_RTOL:.2g} "
                    f"x the largest |reward| {scale:g}), so reading it as {fr} would change the results"
                    if gap <= 1e-6 * max(1.0, abs(float(v))) else
                    f"it is not a rational number with denominator <= {MAX_DENOMINATOR}")
            raise ValueError(
                f"reward {float(v)!r} is not on a lattice: {near}. Exact distributional DP needs rewards "
                "on a lattice (integer multiples of one step). Round the rewards (e.g. TabularMDP(prob, "
                "next_state, np.round(reward, 6), ...)) and account for the rounding error yourself: at "
                "most horizon * max|rounding| on the return"
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
    if scale / step > MAX_UNITS:
        raise ValueError(f"rewards span too many lattice steps for exact DP: the largest |reward| {scale:g} is "
                         f"{scale / step:.3g} steps of {step:g} (at most 2**50); rescale or round the rewards")
    units = np.where(live, np.round(mdp.reward / step), 0).astype(np.int64)
    return RewardLattice(step=float(step), units=units)


@dataclass(frozen=True)
class StockGrid:
    """Stocks `step * (base_units + offset + k)` for `k = 0 .. size - 1`.

    `base_units` is an integer when the reference stock is a lattice point, so that
    `stock + G` is computed exactly (e.g. exactly 0 when a threshold is hit).
    """

    base_units: float
    step: float
    offset: int
    size: int

    def __post_init__(self) -> None:
        if not (isinstance(self.step, (int, float, np.number)) and np.isfinite(self.step) and self.step > 0):
            raise ValueError(f"StockGrid: step must be a finite positive number (the reward lattice step), "
                             f"got {self.step!r}")
        if not (isinstance(self.base_units, (int, float, np.number)) and np.isfinite(self.base_units)):
            raise ValueError(f"StockGrid: base_units must be a finite number, got {self.base_units!r}")
        for name in ("offset", "size"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"StockGrid: {name} must be an int, got {value!r}")
        if self.size < 1:
            raise ValueError(f"StockGrid: size must be at least 1 (the number of stock cells), got {self.size!r}")

    def values(self, extra_units: np.ndarray | int = 0) -> np.ndarray:
        """Stock values of all grid cells, shifted by `extra_units` lattice steps."""
        k = self.offset + np.arange(self.size) + np.asarray(extra_units)
        return self.step * (self.base_units + k)

    def index(self, stocks: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Grid index of each stock and whether it is on the lattice (within `LOOKUP_RTOL`)
        and inside the grid (`False` for a non-finite stock)."""
        u, on_lattice = lattice_units(np.asarray(stocks, dtype=np.float64) / self.step - self.base_units,
                                      LOOKUP_RTOL)
        k = u - self.offset
        ok = on_lattice & (k >= 0) & (k < self.size)
        return np.where(ok, k, 0), ok


def lattice_units(x: np.ndarray | float, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """The nearest integers to `x` (int64) and whether each is within `rtol * max(1, |x|)`.

    Args:
        x: values in lattice units.
        rtol: the relative tolerance (`LATTICE_RTOL` or `LOOKUP_RTOL`).

    Returns:
        `(units, on_lattice)`; `units` is 0 where `on_lattice` is `False` (also for
        non-finite or huge values).
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        u = np.round(x)
        ok = np.isfinite(x) & (np.abs(x) < 2.0**62) & (np.abs(x - u) <= rtol * np.maximum(1.0, np.abs(x)))
    return np.where(ok, u, 0.0).astype(np.int64), ok


def base_units(stock: float, step: float) -> float:
    """`stock / step`, rounded to the exact integer when it is one up to float rounding
    (`LATTICE_RTOL`): then `stock + G` is exact on the lattice.

    Args:
        stock: a finite stock.
        step: the lattice step.

    Raises:
        ValueError: if `stock` is more than `MAX_UNITS` steps from 0.
    """
    u = stock / step
    if not abs(u) <= MAX_UNITS:
        raise ValueError(f"the initial stock {stock!r} is {abs(u):.3g} lattice steps of {step:g} from 0 (at most "
                         "2**50): c0 + G would lose the return's steps to float rounding; use a stock closer to 0")
    units, on_lattice = lattice_units(u, LATTICE_RTOL)
    return float(units) if bool(on_lattice) else float(u)
