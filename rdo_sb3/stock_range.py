"""Automatic stock range and scale (`stock_range="auto"`): estimated from the returns the env gives.

An agent given `stock_range="auto"` (or an [`AutoStockRange`][rdo_sb3.stock_range.AutoStockRange]) records the
discounted return `G = sum_t gamma^t R_{t+1}` of every episode its training env finishes. The **warm-up** is the
agent's `learning_starts` phase (SB3 acts uniformly at random then and trains nothing): when it ends, before the
first gradient step, the returns seen so far (the partial returns of the running episodes when none has
finished) give the first estimate. From the lowest and highest return `[G_min, G_max]`, widened by `margin` of
their spread on each side to `[a, b]` (rounded outward to two significant digits), it sets

* the **range of training initial stocks** `[-b, -a]`: `c0 = -q` for every return level `q` the returns
  reach, which is where CVaR's `c0 = -VaR_alpha(G)` lies (widened to take in a fixed-`c0` objective's own
  `c0`, e.g. `-target`); it is the agent's `stock_range` (relabelling, the CVaR search) and the env's
  sampler, [`UniformStock`][rdo_gym.stock.UniformStock] on it;
* the **stock scale** (with `set_scale=True`): the power of ten `10^-k` that puts `[-b, -a]` and the returns'
  spread within `[-1, 1]`, so the network's stock input `scale * C` stays of order one. It is fixed once, at
  the end of the warm-up, before the network has learned from any stock input; the stock entries of the
  transitions already in the replay buffer (and of the current observation) are rescaled to it.

After the warm-up every finished episode of the training rollouts (the data that is replayed) is checked: a
return outside `[a, b]` widens it (again with the margin) and moves the range, in the agent and in every
sub-env. The scale is not changed again: changing it would change what the network has learned from.

When `learn` starts with no warm-up phase left (`learning_starts=0`, or a model trained past it), the agent
runs a separate one of [`warm_up`][rdo_sb3.stock_range.AutoStockRange.warm_up]: up to `warmup_steps`
random-policy steps (not counted in `num_timesteps`) or `warmup_episodes` finished episodes.

Constant returns (every episode returns the same `G`): the range is `G` padded by `margin * 0.1 * |G|` on each
side, or by `margin` when `G = 0`, so it is never empty and CVaR's `c0 = -G` lies inside it.

How the estimate reaches the env: through the stock wrapper's
[`set_initial_stock`][rdo_gym.stock.StockAugmentation.set_initial_stock] and
[`set_stock_scale`][rdo_gym.stock.StockAugmentation.set_stock_scale], called with SB3's
`VecEnv.env_method`, which reaches sub-envs in subprocesses (`SubprocVecEnv`) too.

Examples:
    >>> from rdo_gym import CVaR
    >>> auto = AutoStockRange(margin=0.25)
    >>> auto.observe([10.0, 30.0, 50.0])       # returns of three episodes: [a, b] = [0, 60]
    True
    >>> auto.stock_range_for(CVaR(0.1)), auto.stock_scale_for(CVaR(0.1))
    (StockRange(low=-60.0, high=0.0, integer=False), 0.01)
    >>> auto.observe([55.0]), auto.observe([70.0])   # inside [0, 60]: no change; 70 leaves it
    (False, True)
    >>> auto.stock_range_for(CVaR(0.1)).low          # [10, 70] widened by 15: [-5, 85]
    -85.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from rdo_gym.objectives import Objective
from rdo_gym.stock import StockRange, UniformStock

__all__ = ["AUTO", "AutoStockRange", "check_stock_range"]

AUTO = "auto"
"""The `stock_range` value that asks for an [`AutoStockRange`][rdo_sb3.stock_range.AutoStockRange]."""


def check_stock_range(stock_range: Any) -> StockRange | AutoStockRange | None:
    """`stock_range` as a [`StockRange`][rdo_gym.stock.StockRange], an
    [`AutoStockRange`][rdo_sb3.stock_range.AutoStockRange] (for `"auto"`) or `None`, else a `ValueError` that
    names the value and the accepted forms."""
    if stock_range is None or isinstance(stock_range, (StockRange, AutoStockRange)):
        return stock_range
    if isinstance(stock_range, str):
        if stock_range.strip().lower() == AUTO:
            return AutoStockRange()
        raise ValueError(f"stock_range must be 'auto', a pair (low, high) of finite numbers with low <= high, or an "
                         f"rdo_gym.StockRange, got the string {stock_range!r}")
    try:
        return StockRange.of(stock_range)
    except ValueError:
        raise ValueError(f"stock_range must be a pair (low, high) of finite numbers with low <= high, an "
                         f"rdo_gym.StockRange, or 'auto' (estimated from the returns), got {stock_range!r}") from None


def _outward(low: float, high: float) -> tuple[float, float]:
    """`[low, high]` rounded outward to two significant digits of its width (readable bounds)."""
    width = max(high - low, abs(low), abs(high))
    if width == 0.0:
        return low, high
    step = 10.0 ** (math.floor(math.log10(width)) - 1)
    if step == 0.0:  # a subnormal width: 10**(e - 1) underflows, nothing to round
        return low, high
    return math.floor(low / step) * step + 0.0, math.ceil(high / step) * step + 0.0


class AutoStockRange:
    """The range of discounted returns seen so far, and the initial-stock range and stock scale it gives.

    Args:
        margin: the fraction of the returns' spread `G_max - G_min` added on each side (at least
            `margin * 0.1 * max|G|`, and `margin` itself when every return is 0), `>= 0`.
        warmup_steps: random-policy env steps (summed over sub-envs) of the warm-up, `>= 1`; it stops
            earlier once `warmup_episodes` episodes have finished.
        warmup_episodes: finished episodes after which the warm-up stops, `>= 1`.
        set_scale: set the env's stock scale after the warm-up (`False` keeps the env's own).

    Attributes:
        low: the lowest return seen (`nan` before any).
        high: the highest return seen.
        covered: the returns interval `[a, b]` the range was built from (`None` before any return).
        n_episodes: the episodes whose returns were seen.
        widenings: how many times a return outside `covered` widened it (after the first estimate).
        stock_scale: the scale set after the warm-up (`None` if not set).
        estimated_at: the agent's `num_timesteps` when the first estimate was made (`None` before).
        pending: the returns of the warm-up episodes finished so far (taken in by the first estimate).
    """

    def __init__(self, margin: float = 0.25, warmup_steps: int = 2000, warmup_episodes: int = 20,
                 set_scale: bool = True):
        try:
            margin = float(margin)
        except (TypeError, ValueError):
            margin = math.nan
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"AutoStockRange(margin=...) must be a finite number >= 0, got {margin!r}")
        for name, value in (("warmup_steps", warmup_steps), ("warmup_episodes", warmup_episodes)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"AutoStockRange({name}=...) must be an integer >= 1, got {value!r}")
        self.margin = margin
        self.warmup_steps = int(warmup_steps)
        self.warmup_episodes = int(warmup_episodes)
        self.set_scale = bool(set_scale)
        self.low = math.nan
        self.high = math.nan
        self.covered: tuple[float, float] | None = None
        self.n_episodes = 0
        self.widenings = 0
        self.stock_scale: float | None = None
        self.estimated_at: int | None = None
        self.pending: list[float] = []
        self._running: np.ndarray | None = None  # per sub-env: discounted return so far, gamma^t
        self._discount: np.ndarray | None = None
        self._gamma = 1.0

    @property
    def ready(self) -> bool:
        """Whether the warm-up has given a first estimate."""
        return self.covered is not None

    # -- the estimate -------------------------------------------------------------------------------------
    def observe(self, returns: Iterable[float]) -> bool:
        """Take in episode returns; `True` when the covered interval changed (the first estimate, or a
        return outside it)."""
        values = [float(g) for g in returns if math.isfinite(float(g))]
        if not values:
            return False
        self.n_episodes += len(values)
        low, high = min(values), max(values)
        self.low = low if math.isnan(self.low) else min(self.low, low)
        self.high = high if math.isnan(self.high) else max(self.high, high)
        if self.covered is not None and self.covered[0] <= low and high <= self.covered[1]:
            return False
        if self.covered is not None:
            self.widenings += 1
        spread = max(self.high - self.low, 0.1 * max(abs(self.low), abs(self.high)))
        pad = self.margin * (spread if spread > 0 else 1.0)
        self.covered = _outward(self.low - pad, self.high + pad)
        return True

    def stock_range_for(self, objective: Objective) -> StockRange:
        """The initial stocks `[-b, -a]` for the covered returns `[a, b]`, taking in `objective`'s own
        fixed `c0` when it does not search it."""
        if self.covered is None:
            raise ValueError("AutoStockRange has seen no episode return yet: run the warm-up (the agent's learn) "
                             "or observe() some returns first")
        a, b = self.covered
        low, high = -b + 0.0, -a + 0.0
        if not objective.searches_initial_stock:
            c0 = float(objective.initial_stock)
            low, high = min(low, c0), max(high, c0)
        return StockRange(low, high)

    def stock_scale_for(self, objective: Objective) -> float:
        """The power of ten `10^-k` with `scale * max(|stock bounds|, returns' spread) <= 1`."""
        stocks = self.stock_range_for(objective)
        size = max(abs(stocks.low), abs(stocks.high), self.high - self.low)
        return 1.0 if size == 0.0 else 10.0 ** -math.ceil(math.log10(size))

    def fix_scale(self, objective: Objective) -> float:
        """Set `stock_scale` to [`stock_scale_for`][rdo_sb3.stock_range.AutoStockRange.stock_scale_for]`(objective)`
        (once: the agent calls it at the end of the warm-up) and return it."""
        self.stock_scale = self.stock_scale_for(objective)
        return self.stock_scale

    def as_dict(self, objective: Objective) -> dict[str, Any]:
        """The estimate as plain numbers (for `run.yml`, logs and reports)."""
        stocks = self.stock_range_for(objective)
        return {"returns": [self.low, self.high], "covered": list(self.covered or ()),
                "initial_stocks": [stocks.low, stocks.high], "stock_scale": self.stock_scale,
                "episodes": self.n_episodes, "widenings": self.widenings, "estimated_at": self.estimated_at,
                "margin": self.margin}

    def describe(self, objective: Objective) -> str:
        """A one-line report of the estimate (for logs)."""
        stocks = self.stock_range_for(objective)
        scale = "" if self.stock_scale is None else f", stock scale {self.stock_scale:g}"
        episodes = f"{self.n_episodes} episode" + ("s" if self.n_episodes != 1 else "")
        return (f"stock range auto: discounted returns of {episodes} in [{self.low:.6g}, "
                f"{self.high:.6g}], covered [{self.covered[0]:g}, {self.covered[1]:g}]: initial stocks "
                f"[{stocks.low:g}, {stocks.high:g}]{scale}")

    # -- the env side --------------------------------------------------------------------------------------
    def warm_up(self, env: Any, gamma: float) -> list[float]:
        """Random-policy steps on the SB3 VecEnv `env` (it is reset first; reset it again after); the
        returns of the finished episodes, observed. If none finished, the partial returns so far count
        (a long episode's return is at least as wide)."""
        n = env.num_envs
        env.reset()
        self._start_tracking(n, gamma)
        finished: list[float] = []
        for _ in range(max(1, math.ceil(self.warmup_steps / n))):
            actions = np.array([env.action_space.sample() for _ in range(n)])
            _, rewards, dones, _ = env.step(actions)
            finished += self._track(rewards, dones)
            if len(finished) >= self.warmup_episodes:
                break
        if not finished:
            finished = [float(x) for x in self._running]
        self.observe(finished)
        self._start_tracking(n, gamma)  # the caller resets the env: episodes start afresh
        return finished

    def apply(self, env: Any, objective: Objective, scale: bool = False) -> StockRange:
        """Set the sampler of every sub-env of the SB3 VecEnv `env` to `UniformStock` on the stock range, and
        their stock scale to `stock_scale` once it is fixed (`scale=True` fixes it now,
        [`fix_scale`][rdo_sb3.stock_range.AutoStockRange.fix_scale]); returns the range."""
        stocks = self.stock_range_for(objective)
        env.env_method("set_initial_stock", UniformStock(stocks.low, stocks.high))
        if scale:
            self.fix_scale(objective)
        if self.stock_scale is not None:
            env.env_method("set_stock_scale", self.stock_scale)
        return stocks

    def update(self, env: Any, rewards: Any, dones: Any, objective: Objective, gamma: float) -> StockRange | None:
        """Follow one vectorized step's `rewards` and `dones`; when a finished episode's return leaves the
        covered interval, widen it and set the sub-envs' samplers: returns the new range, else `None`."""
        if self._running is None or self._running.shape[0] != len(dones):
            self._start_tracking(len(dones), gamma)
        finished = self._track(rewards, dones)
        if finished and self.observe(finished):
            return self.apply(env, objective, scale=False)
        return None

    def start_tracking(self, n: int, gamma: float) -> None:
        """Follow `n` sub-envs whose episodes start afresh (after a reset), discounting with `gamma`."""
        self._start_tracking(n, gamma)

    def track(self, rewards: Any, dones: Any) -> list[float]:
        """Follow one vectorized step's `rewards` and `dones`; the discounted returns of the episodes it
        finished (bookkeeping starts, with `gamma` 1, if `start_tracking` was not called)."""
        if self._running is None or self._running.shape[0] != len(np.asarray(dones).reshape(-1)):
            self._start_tracking(len(np.asarray(dones).reshape(-1)), self._gamma)
        return self._track(rewards, dones)

    def running_returns(self) -> list[float]:
        """The discounted returns so far of the episodes under way."""
        return [] if self._running is None else [float(x) for x in self._running]

    def _start_tracking(self, n: int, gamma: float) -> None:
        self._running = np.zeros(n)
        self._discount = np.ones(n)
        self._gamma = float(gamma)

    def _track(self, rewards: Any, dones: Any) -> list[float]:
        self._running += self._discount * np.asarray(rewards, dtype=np.float64).reshape(-1)
        self._discount *= self._gamma
        done = np.asarray(dones, dtype=bool).reshape(-1)
        finished = self._running[done].tolist()
        self._running[done] = 0.0
        self._discount[done] = 1.0
        return finished

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_running"] = state["_discount"] = None  # per-episode bookkeeping: restarts after a load
        return state

    def __repr__(self) -> str:
        return (f"AutoStockRange(margin={self.margin!r}, warmup_steps={self.warmup_steps!r}, "
                f"warmup_episodes={self.warmup_episodes!r}, set_scale={self.set_scale!r}; covered={self.covered})")
