"""The one place where DηN turns quantiles into action scores (acting and the bootstrap action).

QR-DQN scores an action by the mean of its quantiles. DηN scores it by the objective's expected
utility at the stock read from the same observation (DESIGN.md section 2)::

    score(s, c, a) = mean_i f(c + theta_i(s, c, a))

In naive mode (the time-inconsistent baseline) the stock is ignored and the objective's reported
statistic is applied to the return-to-go quantiles, e.g. their lower-tail mean for CVaR; it is
negated for lower-is-better objectives so that a higher score is always better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from rdo_gym.objectives import Expectation, Objective
from rdo_sb3.stock_input import StockLocation

__all__ = ["ObjectiveHook", "greedy_with_random_ties", "greedy_with_random_ties_numpy"]


def greedy_with_random_ties(scores: th.Tensor) -> th.Tensor:
    """``argmax`` over the last dim of ``scores`` ``(batch, n_actions)``, ties broken uniformly.

    Exact equality defines a tie (objectives such as ``1{x >= 0}`` or ``min(x, 0)`` produce exact
    ties). Uses torch's global generator (seeded by SB3's ``set_random_seed``).
    """
    noise = th.rand_like(scores)
    noise.masked_fill_(scores < scores.amax(dim=-1, keepdim=True), -1.0)
    return noise.argmax(dim=-1)


def greedy_with_random_ties_numpy(scores: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`greedy_with_random_ties` (numpy's global generator, also seeded by SB3)."""
    is_best = scores == np.maximum.reduce(scores, axis=-1, keepdims=True)
    if np.count_nonzero(is_best) == scores.shape[0]:  # no ties anywhere: the plain argmax
        return scores.argmax(axis=-1)
    noise = np.random.random_sample(scores.shape)
    noise[~is_best] = -1.0
    return noise.argmax(axis=-1)


class ObjectiveHook:
    """Scores actions from quantiles ``(batch, n_quantiles, n_actions)`` and the observations.

    Args:
        objective: the :class:`~rdo_gym.Objective` (its ``utility`` works on numpy and torch).
        stock: where the stock is in the observation (``None`` only in naive mode).
        naive: apply the objective to the return-to-go without the stock.

    :meth:`greedy_actions` runs on numpy views of CPU tensors (tiny arrays: numpy's per-op cost is
    a fraction of torch's, which keeps DηN's throughput close to QR-DQN's) and in torch elsewhere;
    both evaluate the same :meth:`scores_from_stock`.
    """

    def __init__(self, objective: Objective, stock: StockLocation | None, naive: bool = False):
        if stock is None and not naive:
            raise ValueError("ObjectiveHook needs a StockLocation unless naive=True")
        self.objective = objective
        self.stock = stock
        self.naive = bool(naive)
        self._mean = isinstance(objective, Expectation)
        self._inv_scale = 1.0 if stock is None else 1.0 / stock.scale
        self._utility = objective.utility

    def scores_from_stock(self, quantiles: Any, scaled_stock: Any) -> Any:
        """Scores ``(batch, n_actions)`` from quantiles and the stock entries ``scale * c`` ``(batch,)``.

        Works on torch tensors and numpy arrays alike; higher is better.
        """
        if self._mean:  # E[c + G] = c + E[G]: c is the same for every action, keep QR-DQN's score
            return quantiles.mean(1)
        obj = self.objective
        if self.naive:
            c0 = obj.initial_stock
            if c0 is None:  # searched initial stock (CVaR): its value() is the tail statistic itself
                value = obj.value(quantiles, axis=1)
            else:
                value = obj.value_from_utility(c0, obj.utility(quantiles + c0).mean(1))
            return value if obj.higher_is_better else -value
        stock = scaled_stock * self._inv_scale
        return obj.utility(quantiles + stock[:, None, None]).mean(1)

    def scores(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """Action scores ``(batch, n_actions)`` in torch: higher is better."""
        stock = None if (self.naive or self._mean) else self.stock.read_scaled(observations)  # type: ignore
        return self.scores_from_stock(quantiles, stock)

    def greedy_actions(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """Greedy actions ``(batch,)`` (int64 tensor) with random tie-breaking."""
        if not quantiles.is_cpu or quantiles.requires_grad:
            return greedy_with_random_ties(self.scores(quantiles, observations))
        if self._mean:  # exactly QR-DQN's score
            totals = quantiles.mean(dim=1).numpy()
        elif self.naive:
            totals = self.scores_from_stock(quantiles.numpy(), None)
        else:  # the sum over quantiles ranks actions like the mean
            stock = self.stock.read_scaled_numpy(observations) * self._inv_scale  # type: ignore[union-attr]
            totals = np.add.reduce(self._utility(quantiles.numpy() + stock[:, None, None]), axis=1)
        return th.from_numpy(greedy_with_random_ties_numpy(totals).astype(np.int64, copy=False))

    def __repr__(self) -> str:
        return f"ObjectiveHook({self.objective}, {self.stock}, naive={self.naive})"
