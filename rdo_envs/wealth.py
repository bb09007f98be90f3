"""Goal-based wealth management (`rdo/WealthGoal-v0`, continuous; `rdo/WealthGoalDiscrete-v0`, its twin).

An investor holds wealth `W` (an integer number of money units on the grid `0 .. max_wealth`) for
`horizon` periods (years, by default). Each period she chooses the fraction `u` in `[0, 1]` of her
wealth held in a risky asset (equities); the rest earns the risk-free rate. No leverage, no short
sales. The risky gross return `R` of the period is drawn from a small discrete distribution
(`risky_returns`), and the wealth moves to

    y = W * (1 + risk_free + u * (R - 1 - risk_free)) + contribution

(`contribution` units are paid in at the end of every period; negative: a withdrawal), mapped back
to the grid by **randomized rounding** to the two neighbouring grid points, `floor(y)` with
probability `1 - frac(y)` and `floor(y) + 1` with probability `frac(y)` (so that the mean `y` is
preserved), and then clipped to `[0, max_wealth]` (`max_wealth` is a cap: money above it is
consumed; below 0 the investor is ruined at 0). The transition law is therefore exact and
computable for *any* `u`, and it is continuous (piecewise linear) in `u`.

**Calibration (default).** One period is a year; `risk_free = 0.02`; the risky gross return is
0.70 (a crash, probability 0.10), 0.95 (a bad year, 0.40) or 1.24 (a good year, 0.50): mean 1.07
(an equity premium of 5% a year), standard deviation 0.184, negatively skewed (skewness -0.94),
close to the annual figures of a broad equity index. The investor starts with `initial_wealth` =
50 units, her goal is `goal` = 80 units (1.6 times her wealth) after `horizon` = 10 years, the
cap is `max_wealth` = 200 units and there are no contributions.

**Reward convention.** The reward of a step is the change of wealth `W_{t+1} - W_t` (an integer),
so with gamma = 1 the return is `G = W_T - W_0` and the stock `c0 + G` tracks the terminal wealth:

* `prob:{goal - initial_wealth}` (`prob:30` by default) is the probability of reaching the goal,
  `P(W_T >= goal)` (the stock starts at `c0 = W_0 - goal`, the shortfall, and ends at
  `W_T - goal`);
* `cvar:alpha` is `CVaR_alpha(W_T) - W_0`, the mean of the worst `alpha` fraction of the terminal
  wealth, minus the initial wealth (the outer search finds `c0* = -VaR_alpha(G)`);
* `mean` is `E[W_T] - W_0` (the risk-neutral reference).

**Observation.** `Box(0, 1, (2,))` float32: `[wealth / max_wealth, time left / horizon]`;
`info["state"]` is the wealth (the tabular state), `info["t"]` the periods elapsed and
`info["wealth"]` the wealth. Episodes end with `terminated=True` after `horizon` periods (the
horizon belongs to the problem; never `truncated`). All randomness comes from `self.np_random`
(seeded by `reset(seed=...)`).

**Exact models.** [`WealthEnv.grid_model`][rdo_envs.wealth.WealthEnv.grid_model] builds the
[`TabularMDP`][rdo_gym.dp.model.TabularMDP] with the action grid `u_k = k / (n_levels - 1)` (the model of the
discrete twin, whose `model` it is), and
[`WealthEnv.exact_model`][rdo_envs.wealth.WealthEnv.exact_model] the model of the continuous env (its `model`):
at wealth `W` the value of the next step, as a function of `u`, is piecewise linear with kinks
where some outcome's `y` crosses an integer in `[0, max_wealth]` (randomized rounding interpolates
linearly between grid points, and the clipping is flat), so its maximum over `[0, 1]` is attained at
one of these finitely many *breakpoints* ([`WealthEnv.breakpoints`][rdo_envs.wealth.WealthEnv.breakpoints]) or at 0
or 1. The DP over the breakpoints is therefore the exact optimum over all `u` in `[0, 1]`, for
every objective `rdo_gym.dp` solves. Action `k` of a model at wealth `W` is the fraction
`model_fractions[W, k]` ([`WealthEnv.model_fractions`][rdo_envs.wealth.WealthEnv.model_fractions]), so a DP policy
acts in the env as `env.fraction(state, policy.action(state, stock, t))`.
[`discretization_table`][rdo_envs.wealth.discretization_table] lists the grid optima against the exact one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rdo_gym.dp.model import TabularMDP

__all__ = ["WealthEnv", "WealthGoalEnv", "WealthGoalDiscreteEnv", "RISKY_RETURNS", "discretization_table"]

RISKY_RETURNS: tuple[tuple[float, float], ...] = ((0.10, 0.70), (0.40, 0.95), (0.50, 1.24))
"""The default law of the risky gross return per period: `(probability, gross return)` pairs
(mean 1.07, standard deviation 0.184, skewness -0.94)."""

_SNAP = 1e-12  # relative: a next-wealth mean this close to an integer is that integer (float noise at breakpoints)


class WealthEnv(gym.Env):
    """Shared dynamics, models and metadata of the wealth benchmarks (see the module docstring).

    Subclasses fix the action space: [`WealthGoalEnv`][rdo_envs.wealth.WealthGoalEnv] (continuous
    `Box(0, 1, (1,))`, the fraction itself) and [`WealthGoalDiscreteEnv`][rdo_envs.wealth.WealthGoalDiscreteEnv]
    (`Discrete(n_levels)`, fraction `k / (n_levels - 1)`).

    Args:
        horizon: The number of periods `T` (a positive integer).
        initial_wealth: `W_0`, an integer in `[0, max_wealth]`.
        max_wealth: The cap of the grid (a positive integer); the states are `0 .. max_wealth`.
        goal: The wealth goal of the `prob:` objective, an integer (default objectives use
            `prob:{goal - initial_wealth}`).
        risk_free: The risk-free rate per period, `> -1`.
        risky_returns: `(probability, gross return)` pairs of the risky asset per period; gross
            returns positive, probabilities positive and summing to 1.
        contribution: Integer units paid in at the end of every period (negative: withdrawn).
        render_mode: `"ansi"` or `None`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    default_objectives: ClassVar[tuple[str, ...]] = ("prob:30", "cvar:0.25", "cvar:0.5", "mean")
    """Objective specs with documented exact optima (for the default kwargs): the goal
    probability `P(W_T >= 80)`, the lower tails of `W_T - W_0` and its mean."""
    reference_objectives: ClassVar[tuple[str, ...]] = ("prob:30", "cvar:0.1", "cvar:0.25", "cvar:0.5", "mean")
    """The objectives of the documented reference table (`cvar:0.1` too: there the riskless
    portfolio is optimal)."""
    gamma: ClassVar[float] = 1.0
    """The discount the objectives are defined with."""
    training_stocks: ClassVar[tuple[int, int]] = (-40, 0)
    """Integer `(low, high)` range of initial stocks to train a stock-augmented agent on: it holds
    `c0 = W_0 - goal = -30` of `prob:30` and the CVaR optima's `c0* = -VaR_alpha(G)` (-10, -15
    and -32 for alpha = 0.1, 0.25 and 0.5 on the continuous env; -10, -13 and -32 on the twin)."""
    stock_scale: ClassVar[float] = 0.02
    """Suggested factor on the stock in the network input (stocks of tens of units)."""

    def __init__(self, horizon: int = 10, initial_wealth: int = 50, max_wealth: int = 200, goal: int = 80,
                 risk_free: float = 0.02, risky_returns: Sequence[Sequence[float]] = RISKY_RETURNS,
                 contribution: int = 0, render_mode: str | None = None):
        for name, v in (("horizon", horizon), ("max_wealth", max_wealth)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {name}={v!r}")
        for name, v in (("initial_wealth", initial_wealth), ("goal", goal), ("contribution", contribution)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{name} must be an integer (wealth is on the integer grid), got {name}={v!r}")
        if not 0 <= initial_wealth <= max_wealth:
            raise ValueError(f"initial_wealth must lie in [0, max_wealth={max_wealth}], got "
                             f"initial_wealth={initial_wealth!r}")
        if not (isinstance(risk_free, (int, float, np.floating)) and math.isfinite(risk_free) and risk_free > -1):
            raise ValueError(f"risk_free must be a finite rate > -1 per period, got risk_free={risk_free!r}")
        table = _returns_table(risky_returns)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got render_mode={render_mode!r}")
        self.horizon = int(horizon)
        self.initial_wealth = int(initial_wealth)
        self.max_wealth = int(max_wealth)
        self.goal = int(goal)
        self.risk_free = float(risk_free)
        self.risky_returns = tuple((float(p), float(r)) for p, r in table)
        self.contribution = int(contribution)
        self.render_mode = render_mode
        self.n_states = self.max_wealth + 1
        self.start_state = self.initial_wealth
        self._probs = np.array([p for p, _ in self.risky_returns])
        self._excess = np.array([r - 1.0 - self.risk_free for _, r in self.risky_returns])  # R - (1 + r_f)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
        self._wealth = self.initial_wealth
        self._t = 0
        self._done = False
        self._models: dict[Any, tuple[TabularMDP, np.ndarray]] = {}

    @property
    def goal_objective(self) -> str:
        """The spec of the goal probability `P(W_T >= goal)`: `prob:{goal - initial_wealth}`."""
        return f"prob:{self.goal - self.initial_wealth}"

    # -- the dynamics (the deterministic part is shared by the simulator and the models) --------------
    def next_wealth_mean(self, wealth: Any, fraction: Any) -> np.ndarray:
        """`y = W (1 + risk_free + u (R - 1 - risk_free)) + contribution` for every risky outcome
        (last axis), before rounding and clipping; values within a relative 1e-12 of an integer are that integer.

        Args:
            wealth: `W` (array-like).
            fraction: `u` (array-like, broadcast against `wealth`).
        """
        w = np.asarray(wealth, dtype=np.float64)[..., None]
        u = np.asarray(fraction, dtype=np.float64)[..., None]
        y = w * (1.0 + self.risk_free + u * self._excess) + self.contribution
        near = np.round(y)
        return np.where(np.abs(y - near) <= _SNAP * np.maximum(1.0, np.abs(y)), near, y)

    def transition(self, wealth: int, fraction: float) -> list[tuple[float, int]]:
        """The exact law of the next wealth from `wealth` with risky fraction `fraction`:
        `[(probability, next wealth), ...]` (merged, positive probabilities, sorted by wealth).

        Examples:
            >>> env = WealthGoalEnv()
            >>> env.transition(50, 0.0)  # all in the risk-free asset: 50 * 1.02 = 51 for sure
            [(1.0, 51)]
            >>> [(round(p, 4), w) for p, w in env.transition(50, 0.5)]  # y = 43, 49.25 or 56.5
            [(0.1, 43), (0.3, 49), (0.1, 50), (0.25, 56), (0.25, 57)]
        """
        check_fraction(fraction)
        y = self.next_wealth_mean(wealth, fraction)
        law: dict[int, float] = {}
        for p, yj in zip(self._probs, y, strict=True):
            lo = math.floor(yj)
            frac = yj - lo
            for q, w in ((p * (1.0 - frac), lo), (p * frac, lo + 1)):
                if q > 0:
                    w = min(max(w, 0), self.max_wealth)
                    law[w] = law.get(w, 0.0) + q
        return sorted(((float(q), int(w)) for w, q in law.items()), key=lambda x: x[1])

    def _sample_next(self, wealth: int, fraction: float) -> int:
        rng = self.np_random
        j = int(rng.choice(len(self._probs), p=self._probs))
        yj = float(self.next_wealth_mean(wealth, fraction)[j])
        lo = math.floor(yj)
        nxt = lo + int(rng.random() < yj - lo)
        return min(max(nxt, 0), self.max_wealth)

    # -- exact models --------------------------------------------------------------------------------
    def breakpoints(self, wealth: int) -> np.ndarray:
        """The fractions in `[0, 1]` at which the next step's value can have a kink, at `wealth`:
        0, 1 and every `u` where some outcome's `y` is an integer in `[0, max_wealth]` (sorted,
        unique). A function `u -> E[V(next wealth)]` is linear between consecutive breakpoints, for
        every `V`, so its maximum over `[0, 1]` is attained at one of them.

        Args:
            wealth: An integer wealth in `[0, max_wealth]`.
        """
        w = float(wealth)
        points = [np.array([0.0, 1.0])]
        base = w * (1.0 + self.risk_free) + self.contribution
        for d in self._excess:
            slope = w * d
            if slope == 0.0:
                continue
            lo, hi = sorted((base, base + slope))
            ints = np.arange(max(math.ceil(lo), 0), min(math.floor(hi), self.max_wealth) + 1, dtype=np.float64)
            points.append(np.clip((ints - base) / slope, 0.0, 1.0))
        u = np.concatenate(points)
        u = np.unique(np.where(u < 1e-12, 0.0, np.where(u > 1.0 - 1e-12, 1.0, u)))
        keep = np.concatenate([[True], np.diff(u) > 1e-12])  # float duplicates
        return u[keep]

    def build_model(self, fractions: np.ndarray) -> TabularMDP:
        """The exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] whose action `k` at wealth `W` holds the fraction
        `fractions[W, k]` in the risky asset (rewards: wealth changes; the env's horizon).

        Args:
            fractions: `(A,)` fractions for every state, or `(max_wealth + 1, A)` per state, in `[0, 1]`.
        """
        u = np.asarray(fractions, dtype=np.float64)
        if u.ndim == 1:
            u = np.broadcast_to(u, (self.n_states, u.size))
        if u.ndim != 2 or u.shape[0] != self.n_states or u.shape[1] == 0:
            raise ValueError(f"fractions must have shape (A,) or ({self.n_states}, A) with A >= 1, got {u.shape}")
        if not np.all(np.isfinite(u) & (u >= 0.0) & (u <= 1.0)):
            raise ValueError("fractions must lie in [0, 1] (the share of wealth in the risky asset)")
        S, A = u.shape
        wealth = np.arange(S, dtype=np.float64)[:, None]
        y = self.next_wealth_mean(np.broadcast_to(wealth, (S, A)), u)  # (S, A, J)
        lo = np.floor(y)
        frac = y - lo
        prob = np.concatenate([self._probs * (1.0 - frac), self._probs * frac], axis=-1)  # (S, A, 2J)
        nxt = np.clip(np.concatenate([lo, lo + 1.0], axis=-1), 0, self.max_wealth).astype(np.int64)
        reward = (nxt - np.arange(S)[:, None, None]).astype(np.float64)
        initial = np.zeros(S)
        initial[self.initial_wealth] = 1.0
        return TabularMDP(prob, nxt, reward, False, initial, horizon=self.horizon)

    def grid_model(self, n_levels: int) -> TabularMDP:
        """The exact model with the action grid `u_k = k / (n_levels - 1)`, `k = 0 .. n_levels - 1`
        (the model of [`WealthGoalDiscreteEnv`][rdo_envs.wealth.WealthGoalDiscreteEnv] with `n_levels` levels).

        Args:
            n_levels: The number of levels, at least 2.
        """
        return self._cached(("grid", check_levels(n_levels)))[0]

    def exact_model(self) -> tuple[TabularMDP, np.ndarray]:
        """The model of the continuous problem: action `k` at wealth `W` is the `k`-th breakpoint of
        `W` (padded with the last one, `u = 1`). Its DP optimum is the optimum over all fractions in
        `[0, 1]`.

        Returns:
            `(mdp, fractions)`, `fractions[W, k]` the fraction of action `k` at wealth `W`.
        """
        return self._cached(("exact",))

    def _cached(self, key: tuple) -> tuple[TabularMDP, np.ndarray]:
        if key not in self._models:
            if key[0] == "grid":
                u = np.broadcast_to(np.linspace(0.0, 1.0, key[1]), (self.n_states, key[1]))
            else:
                points = [self.breakpoints(w) for w in range(self.n_states)]
                A = max(len(p) for p in points)
                u = np.ones((self.n_states, A))
                for w, p in enumerate(points):
                    u[w, :len(p)] = p
            u = np.ascontiguousarray(u)
            u.setflags(write=False)
            self._models[key] = (self.build_model(u), u)
        return self._models[key]

    @property
    def model(self) -> TabularMDP:
        """The exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] of this env (its action `k` at wealth `W` is
        `model_fractions[W, k]`)."""
        raise NotImplementedError

    @property
    def model_fractions(self) -> np.ndarray:
        """`(max_wealth + 1, A)`: the risky fraction of action `k` of `model` at wealth `W`."""
        raise NotImplementedError

    def fraction(self, state: int, model_action: int) -> float:
        """The risky fraction of action `model_action` of [`model`][rdo_envs.wealth.WealthEnv.model] at wealth
        `state`."""
        return float(self.model_fractions[int(state), int(model_action)])

    def env_action(self, state: int, model_action: int) -> Any:
        """The env action that plays action `model_action` of `model` at wealth `state`."""
        raise NotImplementedError

    # -- gymnasium API --------------------------------------------------------------------------------
    def observation_at(self, state: int, t: int) -> np.ndarray:
        """The observation at wealth `state` after `t` periods: `[state / max_wealth, (horizon - t) / horizon]`."""
        if not (0 <= state < self.n_states and 0 <= t <= self.horizon):
            raise ValueError(f"need 0 <= state < {self.n_states} and 0 <= t <= {self.horizon}, got state={state}, "
                             f"t={t}")
        return np.array([state / self.max_wealth, (self.horizon - t) / self.horizon], dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        return {"state": self._wealth, "t": self._t, "wealth": self._wealth}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start at `initial_wealth` with `horizon` periods to go (`options` is unused)."""
        super().reset(seed=seed)
        self._wealth, self._t, self._done = self.initial_wealth, 0, False
        return self.observation_at(self._wealth, 0), self._info()

    def _fraction_of(self, action: Any) -> float:
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One period: reward `W_{t+1} - W_t`; `terminated` after `horizon` periods, never `truncated`."""
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.step() called after the episode ended; call reset() first")
        u = self._fraction_of(action)
        nxt = self._sample_next(self._wealth, u)
        reward = float(nxt - self._wealth)
        self._wealth = nxt
        self._t += 1
        self._done = self._t >= self.horizon
        return self.observation_at(self._wealth, self._t), reward, self._done, False, self._info()

    def _set_state(self, state: int, t: int = 0) -> None:
        """Put the env at wealth `state` after `t` periods (for tests and DP-policy checks)."""
        self._wealth, self._t, self._done = int(state), int(t), False

    def render(self) -> str | None:
        """`"ansi"`: one status line (period, wealth, goal); `None` without a render mode."""
        if self.render_mode != "ansi":
            return None
        return (f"t={self._t}/{self.horizon} wealth={self._wealth} goal={self.goal} "
                f"({'reached' if self._wealth >= self.goal else 'not reached'})\n")


class WealthGoalEnv(WealthEnv):
    """`rdo/WealthGoal-v0`: the wealth benchmark with a continuous action, the risky fraction
    `u` in `Box(0, 1, (1,))` (float32; values outside `[0, 1]` or NaN raise).

    `model` is [`exact_model`][rdo_envs.wealth.WealthEnv.exact_model]'s: its DP optimum is the exact optimum
    over all fractions, and `rdo_envs.reference("rdo/WealthGoal-v0", spec)` is that optimum (reference
    optima for the default kwargs: `prob:30` 0.7764 (risk-neutral 0.5955), `cvar:0.25` 11.29
    (risk-neutral -9.44, naive 10.00), `cvar:0.5` 16.87, `mean` 46.63; `rdo_envs.WEALTH_REFERENCE_OPTIMA`,
    `docs/envs.md`). Arguments: those of [`WealthEnv`][rdo_envs.wealth.WealthEnv].
    """

    def __init__(self, horizon: int = 10, initial_wealth: int = 50, max_wealth: int = 200, goal: int = 80,
                 risk_free: float = 0.02, risky_returns: Sequence[Sequence[float]] = RISKY_RETURNS,
                 contribution: int = 0, render_mode: str | None = None):
        super().__init__(horizon, initial_wealth, max_wealth, goal, risk_free, risky_returns, contribution,
                         render_mode)
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)

    @property
    def model(self) -> TabularMDP:
        """The exact model of the continuous problem (the breakpoints as actions)."""
        return self.exact_model()[0]

    @property
    def model_fractions(self) -> np.ndarray:
        """The breakpoint fractions of `model`, `(max_wealth + 1, A)`."""
        return self.exact_model()[1]

    def env_action(self, state: int, model_action: int) -> np.ndarray:
        """`np.array([u], dtype=float32)` for action `model_action` of `model` at wealth `state`."""
        return np.array([self.fraction(state, model_action)], dtype=np.float32)

    def _fraction_of(self, action: Any) -> float:
        a = np.asarray(action)
        if a.size != 1 or a.dtype.kind not in "iuf":
            raise ValueError(f"action must be the risky fraction, one number in [0, 1] (shape (1,)), got {action!r}")
        return check_fraction(float(a.reshape(())))


class WealthGoalDiscreteEnv(WealthEnv):
    """`rdo/WealthGoalDiscrete-v0`: the wealth benchmark with `Discrete(n_levels)` actions, action `k`
    holding the fraction `k / (n_levels - 1)` in the risky asset (default 5 levels: 0, 25, 50, 75,
    100%).

    `model` is [`grid_model`][rdo_envs.wealth.WealthEnv.grid_model]`(n_levels)`. Reference optima for the
    default kwargs: `prob:30` 0.7638, `cvar:0.25` 10.47, `cvar:0.5` 16.29, `mean` 46.55
    (`rdo_envs.WEALTH_REFERENCE_OPTIMA`, `docs/envs.md`).

    Args:
        n_levels: The number of action levels, at least 2. The other arguments are those of
            [`WealthEnv`][rdo_envs.wealth.WealthEnv].
    """

    def __init__(self, n_levels: int = 5, horizon: int = 10, initial_wealth: int = 50, max_wealth: int = 200,
                 goal: int = 80, risk_free: float = 0.02, risky_returns: Sequence[Sequence[float]] = RISKY_RETURNS,
                 contribution: int = 0, render_mode: str | None = None):
        super().__init__(horizon, initial_wealth, max_wealth, goal, risk_free, risky_returns, contribution,
                         render_mode)
        self.n_levels = check_levels(n_levels)
        self.n_actions = self.n_levels
        self.levels = np.linspace(0.0, 1.0, self.n_levels)
        self.action_space = spaces.Discrete(self.n_levels)

    @property
    def model(self) -> TabularMDP:
        """The exact model on the env's own action grid."""
        return self.grid_model(self.n_levels)

    @property
    def model_fractions(self) -> np.ndarray:
        """`levels` for every state, `(max_wealth + 1, n_levels)`."""
        return self._cached(("grid", self.n_levels))[1]

    def env_action(self, state: int, model_action: int) -> int:
        """The model's action index is the env's."""
        return int(model_action)

    def _fraction_of(self, action: Any) -> float:
        a = int(action) if np.ndim(action) == 0 and np.asarray(action).dtype.kind in "iuf" else -1
        if a != action or not 0 <= a < self.n_levels:
            raise ValueError(f"action must be an integer in [0, {self.n_levels}), got {action!r}")
        return float(self.levels[a])


def check_fraction(fraction: float) -> float:
    """`fraction` if it is a number in `[0, 1]`, else a `ValueError` naming it."""
    if not (isinstance(fraction, (int, float, np.number)) and 0.0 <= float(fraction) <= 1.0):
        raise ValueError(f"the risky fraction must be a number in [0, 1] (no leverage, no short sales), "
                         f"got {fraction!r}")
    return float(fraction)


def check_levels(n_levels: int) -> int:
    """`n_levels` if it is an integer >= 2, else a `ValueError` naming it."""
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)) or n_levels < 2:
        raise ValueError(f"n_levels must be an integer >= 2 (the fractions k / (n_levels - 1)), "
                         f"got n_levels={n_levels!r}")
    return int(n_levels)


def _returns_table(risky_returns: Any) -> list[tuple[float, float]]:
    try:
        table = [(float(p), float(r)) for p, r in risky_returns]
    except (TypeError, ValueError):
        raise ValueError(f"risky_returns must be (probability, gross return) pairs, got {risky_returns!r}") from None
    if not table:
        raise ValueError("risky_returns must hold at least one (probability, gross return) pair, got none")
    for p, r in table:
        if not (math.isfinite(p) and p > 0 and math.isfinite(r) and r > 0):
            raise ValueError(f"risky_returns needs positive probabilities and positive gross returns, got ({p!r}, "
                             f"{r!r}) in {risky_returns!r}")
    total = sum(p for p, _ in table)
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"the probabilities of risky_returns must sum to 1, got {total!r}")
    return table


def discretization_table(objectives: Sequence[str] = ("prob:30", "cvar:0.1", "cvar:0.25"),
                         levels: Sequence[int] = (2, 3, 5, 11, 21, 41, 81), **kwargs: Any) -> list[dict[str, Any]]:
    """The DP optimum of each objective on each action grid, next to the exact continuous optimum.

    Args:
        objectives: Objective specs.
        levels: Action-grid sizes (`n_levels`).
        **kwargs: Env parameters of [`WealthEnv`][rdo_envs.wealth.WealthEnv].

    Returns:
        One row per objective and grid (`n_levels = None` for the exact model):
        `{"objective", "n_levels", "optimum", "gap"}` with `gap = exact - optimum` (in the
        objective's direction: >= 0, 0 for the exact model).
    """
    from rdo_gym.dp import solve
    from rdo_gym.objectives import make_objective

    env = WealthGoalEnv(**kwargs)
    rows = []
    for spec in objectives:
        obj = make_objective(spec)
        sign = 1.0 if obj.higher_is_better else -1.0
        exact = solve(env.exact_model()[0], obj).value
        for n in levels:
            value = solve(env.grid_model(n), obj).value
            rows.append({"objective": spec, "n_levels": n, "optimum": value, "gap": sign * (exact - value)})
        rows.append({"objective": spec, "n_levels": None, "optimum": exact, "gap": 0.0})
    return rows
