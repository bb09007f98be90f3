"""The one place where DηN turns quantiles into action scores (acting, the bootstrap action and the
initial-stock search).

QR-DQN scores an action by the mean of its quantiles. DηN scores it by the objective's expected
utility at the stock read from the same observation (`docs/concepts.md`):

    score(s, c, a) = mean_i f(c + theta_i(s, c, a))            (StockScorer)

The time-inconsistent baseline ignores the stock and scores the objective's reported statistic
of the return-to-go quantiles, e.g. their lower-tail mean for CVaR, negated for lower-is-better
objectives so that a higher score is always better (NaiveScorer).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch as th

from rdo_gym.objectives import Expectation, Objective
from rdo_gym.stock import StockLayout

__all__ = ["Scorer", "StockScorer", "NaiveScorer", "make_scorer", "check_return_step", "greedy_with_random_ties",
           "greedy_with_random_ties_numpy", "TIE_BREAKS", "resolve_tie_break"]

TIE_BREAKS = ("auto", "random", "mean")
"""How actions whose objective scores tie exactly are told apart: `"random"` (uniformly), `"mean"` (by
the mean of `G`, then uniformly) or `"auto"`: `"mean"` for an objective whose utility is flat
(`Objective.flat_utility`: `prob:`), `"random"` otherwise, the rule measured best for each kind
(`docs/agent.md`; `resolve_tie_break`). None overrides the objective: only actions with the best score
are candidates.
"""


def resolve_tie_break(tie_break: str, objective: Objective) -> str:
    """The rule `tie_break` stands for with `objective`: `"random"` or `"mean"` (resolves `"auto"`)."""
    if tie_break == "auto":
        return "mean" if objective.flat_utility else "random"
    return tie_break


def greedy_with_random_ties(scores: th.Tensor) -> th.Tensor:
    """`argmax` over the last dim of `scores` `(batch, n_actions)`, ties broken uniformly.

    Exact equality defines a tie (objectives such as `1{x >= 0}` or `min(x, 0)` produce exact
    ties). Uses torch's global generator (seeded by SB3's `set_random_seed`).
    """
    noise = th.rand_like(scores)
    noise.masked_fill_(scores < scores.amax(dim=-1, keepdim=True), -1.0)
    return noise.argmax(dim=-1)


def greedy_with_random_ties_numpy(scores: np.ndarray) -> np.ndarray:
    """Numpy twin of [`greedy_with_random_ties`][rdo_sb3.scorers.greedy_with_random_ties] (numpy's global generator,
    also seeded by SB3)."""
    is_best = scores == np.maximum.reduce(scores, axis=-1, keepdims=True)
    if np.count_nonzero(is_best) == scores.shape[0]:  # no ties anywhere: the plain argmax
        return scores.argmax(axis=-1)
    noise = np.random.random_sample(scores.shape)
    noise[~is_best] = -1.0
    return noise.argmax(axis=-1)


def _numpy_view(observations: Any) -> Any:
    if observations is None:  # the naive scorer reads no stock
        return None
    if isinstance(observations, dict):
        return {k: v.numpy() for k, v in observations.items()}
    return observations.numpy()


class Scorer(ABC):
    """Scores actions from quantiles `(batch, n_quantiles, n_actions)` of `G` and the
    observations they were computed at; higher is better.

    [`scores`][rdo_sb3.scorers.Scorer.scores] works on torch tensors and numpy arrays alike.
    [`greedy_actions`][rdo_sb3.scorers.Scorer.greedy_actions] evaluates it on numpy views of CPU tensors (tiny arrays:
    numpy's per-op cost is a fraction of torch's, which keeps DηN's throughput close to QR-DQN's) and in torch
    elsewhere. Exact ties of the best score (flat utilities: `1{x >= 0}`, `min(x, 0)` above 0) are broken by
    `tie_break`, one rule for acting and for the bootstrap action.
    """

    objective: Objective
    tie_break: str = "auto"
    """One of `TIE_BREAKS`, as given (`"auto"` is resolved per objective: `tie_rule`)."""
    return_step: float | None = None
    """The lattice of the returns, or `None`: see [`StockScorer`][rdo_sb3.scorers.StockScorer]."""

    @abstractmethod
    def scores(self, quantiles: Any, observations: Any) -> Any:
        """Action scores `(batch, n_actions)`."""

    @abstractmethod
    def choose_initial_stock(self, quantiles_at: Any, observation: Any,
                             candidates: Any = None) -> tuple[float, float]:
        """`(c0, learned objective value)` at one unbatched start `observation`.

        `quantiles_at(observations)` gives the learned quantiles of a numpy batch of
        observations; `candidates` are the stocks a searched objective chooses among.
        """

    @property
    def tie_rule(self) -> str:
        """`"random"` or `"mean"`: the rule `tie_break` stands for with this objective."""
        return resolve_tie_break(self.tie_break, self.objective)

    def greedy_actions(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """Greedy actions `(batch,)` (int64 tensor), ties broken by `tie_rule`."""
        by_mean = self.tie_rule == "mean"
        if not quantiles.is_cpu or quantiles.requires_grad:
            scores = self.scores(quantiles, observations)
            if by_mean:
                is_best = scores == scores.amax(dim=-1, keepdim=True)
                scores = th.where(is_best, quantiles.mean(1), -th.inf)
            return greedy_with_random_ties(scores)
        q = quantiles.numpy()
        scores = self.scores(q, _numpy_view(observations))
        if by_mean:
            is_best = scores == np.maximum.reduce(scores, axis=-1, keepdims=True)
            if np.count_nonzero(is_best) > scores.shape[0]:  # some tie: rank the tied actions by E[G]
                scores = np.where(is_best, q.mean(1), -np.inf)
        return th.from_numpy(greedy_with_random_ties_numpy(scores).astype(np.int64, copy=False))


class StockScorer(Scorer):
    """`score(s, c, a) = mean_i f(c + theta_i)` with `c` read from the observation.

    Args:
        objective: the [`Objective`][rdo_gym.objectives.Objective] (its `utility` works on numpy and torch).
        layout: the env's [`StockLayout`][rdo_gym.stock.StockLayout] (where the stock is, its scale).
        tie_break: one of `TIE_BREAKS`.
        return_step: `None`, or the lattice `step * Z` every return-to-go lies on (gamma = 1 and every
            reward a multiple of `step`): then scores use the objective's
            [`lattice_utility`][rdo_gym.objectives.Objective.lattice_utility], equal on the lattice and
            robust to quantiles that miss an atom by a hair (a `prob:` threshold on an atom).
    """

    def __init__(self, objective: Objective, layout: StockLayout, tie_break: str = "auto",
                 return_step: float | None = None):
        self.objective = objective
        self.layout = layout
        self.tie_break = check_tie_break(tie_break)
        self.return_step = check_return_step(return_step, layout.gamma)
        # E[c + G] = c + E[G]: c is the same for every action, so QR-DQN's score ranks alike.
        self._ignores_stock = isinstance(objective, Expectation)
        # A discounted layout carries (X, gamma^t) with X = gamma^t C. For a positively homogeneous f,
        # f(X + gamma^t G) = gamma^(t k) f(C + G): the same argmax and the same ties, without dividing by a
        # gamma^t that may be tiny (or 0 once float32 underflows: then every action ties, at f(X)).
        self._discounted_form = layout.discounted and objective.homogeneous and self.return_step is None

    def scores(self, quantiles: Any, observations: Any) -> Any:
        """Action scores `(batch, n_actions)` at the observations' stocks.

        With a discounted layout and a positively homogeneous utility (every objective allowed for
        `gamma < 1`) the scores are `mean_i f(X + gamma^t theta_i)`, a positive multiple of
        `mean_i f(C + theta_i)` at each observation: the same greedy action and ties, computed
        without `C = X / gamma^t`. (The `prob:` rounding tolerance `x >= -1e-10` then applies to
        `X + gamma^t G`, i.e. `1e-10 / gamma^t` on `C + G`: below float32's resolution of the stock for
        `gamma^t > 1e-3`.)
        """
        if self._ignores_stock:
            return quantiles.mean(1)
        if self._discounted_form:
            x, discount = self.layout.read_discounted(observations)
            return self.objective.utility(x[:, None, None] + discount[:, None, None] * quantiles).mean(1)
        return self.scores_at(quantiles, self.layout.read(observations))

    def scores_at(self, quantiles: Any, stocks: Any) -> Any:
        """Scores `(batch, n_actions)` at the given unscaled stocks `(batch,)`."""
        if self.return_step is not None:
            return self.objective.lattice_utility(stocks[:, None, None], quantiles, self.return_step).mean(1)
        return self.objective.utility(quantiles + stocks[:, None, None]).mean(1)

    def choose_initial_stock(self, quantiles_at: Any, observation: Any,
                             candidates: Any = None) -> tuple[float, float]:
        """Fixed-stock objectives return their `c0`; searched ones (CVaR) maximize
        `objective.value_from_utility(c, max_a score(s0, c, a))` over `candidates`, scored
        at the exact candidate stocks."""
        stocks, values = self.initial_stock_values(quantiles_at, observation, candidates)
        index = int(np.argmax(values) if self.objective.higher_is_better else np.argmin(values))
        return float(stocks[index]), float(values[index])

    def initial_stock_values(self, quantiles_at: Any, observation: Any,
                             candidates: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """`(stocks, learned values)`: every candidate initial stock (the fixed one for a fixed-stock
        objective) and `objective.value_from_utility(c, max_a score(s0, c, a))` at each."""
        obj = self.objective
        stocks = obj.initial_stock_candidates(candidates)
        quantiles = quantiles_at(self.layout.with_stocks(observation, stocks))
        utilities = self.scores_at(quantiles, th.as_tensor(stocks, dtype=quantiles.dtype, device=quantiles.device))
        utilities = utilities.max(dim=1).values.cpu().numpy()
        obj.select_initial_stock(stocks, utilities)  # checks: a number for every candidate
        return stocks, np.asarray(obj.value_from_utility(stocks, utilities), dtype=np.float64)

    def __repr__(self) -> str:
        step = "" if self.return_step is None else f", return_step={self.return_step!r}"
        return f"StockScorer({self.objective}, {self.layout}, tie_break={self.tie_break!r}{step})"


class NaiveScorer(Scorer):
    """The stock-free baseline: the objective's statistic of the return-to-go quantiles."""

    def __init__(self, objective: Objective, tie_break: str = "auto", return_step: float | None = None):
        self.objective = objective
        self.tie_break = check_tie_break(tie_break)
        self.return_step = check_return_step(return_step)

    def scores(self, quantiles: Any, observations: Any = None) -> Any:
        obj = self.objective
        if obj.searches_initial_stock:  # e.g. CVaR: its value() is the tail statistic itself
            value = obj.value(quantiles, axis=1)
        else:
            c0 = obj.initial_stock
            if self.return_step is None:
                utilities = obj.utility(quantiles + c0)
            else:
                utilities = obj.lattice_utility(c0, quantiles, self.return_step)
            value = obj.value_from_utility(c0, utilities.mean(1))
        return value if obj.higher_is_better else -value

    def choose_initial_stock(self, quantiles_at: Any, observation: Any,
                             candidates: Any = None) -> tuple[float, float]:
        """`c0` is NaN (the env's own stock, if any, is left alone); the value is the statistic
        of the greedy action's return-to-go quantiles."""
        if isinstance(observation, dict):
            batch = {k: np.asarray(v)[None] for k, v in observation.items()}
        else:
            batch = np.asarray(observation)[None]
        best = float(self.scores(quantiles_at(batch))[0].max())
        return math.nan, best if self.objective.higher_is_better else -best

    def __repr__(self) -> str:
        return f"NaiveScorer({self.objective}, tie_break={self.tie_break!r})"


def check_tie_break(tie_break: str) -> str:
    """`tie_break` if it is one of `TIE_BREAKS`, else `ValueError`."""
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    return tie_break


def check_return_step(return_step: Any, gamma: float = 1.0) -> float | None:
    """`return_step` as a positive float (or `None`), else `ValueError`; it needs `gamma = 1`."""
    if return_step is None:
        return None
    try:
        step = float(return_step)
    except (TypeError, ValueError):
        step = math.nan
    if not (math.isfinite(step) and step > 0) or isinstance(return_step, bool):
        raise ValueError(f"return_step (the lattice step of the returns) must be a positive number or None, "
                         f"got {return_step!r}")
    if gamma != 1.0:
        raise ValueError(f"return_step={return_step!r} needs gamma = 1 (discounted sums of rewards leave the "
                         f"lattice), got gamma={gamma!r}; use return_step=None")
    return step


def make_scorer(objective: Objective, layout: StockLayout | None, naive: bool = False,
                tie_break: str = "auto", return_step: float | None = None) -> Scorer:
    """The scorer DηN acts with: [`NaiveScorer`][rdo_sb3.scorers.NaiveScorer] if `naive`, else
    [`StockScorer`][rdo_sb3.scorers.StockScorer]."""
    if naive:
        return NaiveScorer(objective, tie_break, return_step)
    if layout is None:
        raise ValueError("the stock-augmented scorer needs the env's StockLayout (or naive=True)")
    return StockScorer(objective, layout, tie_break, return_step)
