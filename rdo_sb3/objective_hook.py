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

import torch as th

from rdo_gym.objectives import Expectation, Objective
from rdo_sb3.stock_input import StockLocation

__all__ = ["ObjectiveHook", "greedy_with_random_ties"]


def greedy_with_random_ties(scores: th.Tensor) -> th.Tensor:
    """``argmax`` over the last dim of ``scores`` ``(batch, n_actions)``, ties broken uniformly.

    Exact equality defines a tie (objectives such as ``1{x >= 0}`` or ``min(x, 0)`` produce exact
    ties). Uses torch's global generator, so SB3's ``set_random_seed`` makes it reproducible.
    """
    noise = th.rand_like(scores)
    noise.masked_fill_(scores < scores.amax(dim=-1, keepdim=True), -1.0)
    return noise.argmax(dim=-1)


class ObjectiveHook:
    """Scores actions from quantiles ``(batch, n_quantiles, n_actions)`` and the observations.

    Args:
        objective: the :class:`~rdo_gym.Objective` (its ``utility`` works on torch tensors).
        stock: where the stock is in the observation (``None`` only in naive mode).
        naive: apply the objective to the return-to-go without the stock.
    """

    def __init__(self, objective: Objective, stock: StockLocation | None, naive: bool = False):
        if stock is None and not naive:
            raise ValueError("ObjectiveHook needs a StockLocation unless naive=True")
        self.objective = objective
        self.stock = stock
        self.naive = bool(naive)
        self._mean = isinstance(objective, Expectation)
        self._inv_scale = 1.0 if stock is None else 1.0 / stock.scale

    def scores(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """Action scores ``(batch, n_actions)``: higher is better."""
        if self._mean:  # E[c + G] = c + E[G]: c is the same for every action, keep QR-DQN's score
            return quantiles.mean(dim=1)
        if self.naive:
            return self._naive_scores(quantiles)
        raw = self.stock.read_scaled(observations)  # type: ignore[union-attr]
        stock_plus_return = th.add(quantiles, raw.view(-1, 1, 1), alpha=self._inv_scale)
        return self.objective.utility(stock_plus_return).mean(dim=1)

    def _naive_scores(self, quantiles: th.Tensor) -> th.Tensor:
        obj = self.objective
        c0 = obj.initial_stock
        if c0 is None:  # searched initial stock (CVaR): its value() is the tail statistic itself
            value = obj.value(quantiles, axis=1)
        else:
            utilities = obj.utility(quantiles + c0).mean(dim=1)
            value = obj.value_from_utility(c0, utilities)
        return value if obj.higher_is_better else -value

    def greedy_actions(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """Greedy actions ``(batch,)`` with random tie-breaking."""
        return greedy_with_random_ties(self.scores(quantiles, observations))

    def __repr__(self) -> str:
        return f"ObjectiveHook({self.objective}, {self.stock}, naive={self.naive})"
