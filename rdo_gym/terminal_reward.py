"""Objective-specific terminal reward ("reward design") for any classic agent.

The wrapped env pays 0 during the episode and ``f(c0 + G)`` when it ends, where ``f`` is the
objective's utility and ``c0 + G = gamma^T C_T`` is read from the :class:`StockAugmentation`
beneath. A classic agent (PPO, DQN, A2C...) that maximizes this reward *undiscounted*
(``gamma=1`` for the agent) maximizes ``E[f(c0 + G)]`` exactly, provided its observation carries
the stock (it does: the stock wrapper is underneath).
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym

from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockAugmentation, find_stock_wrapper

__all__ = ["TerminalObjectiveReward"]

TRUNCATION_CHOICES = ("pay", "zero")


class TerminalObjectiveReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Reward 0 during the episode and ``f(c0 + G)`` at its end, for a chosen objective.

    Args:
        env: an env with a :class:`StockAugmentation` in its wrapper chain (the observation must
            carry the stock for the objective to be optimizable).
        objective: an :class:`~rdo_gym.objectives.Objective` or its string form (``"cvar:0.1"``).
            The episode's ``c0`` is the stock wrapper's; for objectives with a fixed initial stock
            (``target``, ``prob``, ``homeostasis``) set the stock wrapper's ``initial_stock`` to
            ``objective.initial_stock``.
        on_truncation: what a truncated (not terminated) episode pays: ``"pay"`` the terminal
            reward computed from the stock so far, or ``"zero"`` (nothing).

    ``info["original_reward"]`` keeps the env's reward of each step and
    ``info["terminal_reward"]`` is set on the last step.
    """

    def __init__(self, env: gym.Env, objective: Objective | str,
                 on_truncation: Literal["pay", "zero"] = "pay"):
        gym.utils.RecordConstructorArgs.__init__(
            self, objective=str(objective) if isinstance(objective, str) else objective,
            on_truncation=on_truncation)
        gym.Wrapper.__init__(self, env)
        stock = find_stock_wrapper(env)
        if stock is None:
            raise ValueError(
                "TerminalObjectiveReward needs a stock beneath it: wrap the env first, e.g. "
                "TerminalObjectiveReward(StockAugmentation(env, gamma=0.99, initial_stock=c0), "
                f"objective); got {env}")
        if on_truncation not in TRUNCATION_CHOICES:
            raise ValueError(f"on_truncation must be one of {TRUNCATION_CHOICES}, got {on_truncation!r}")
        self.objective = make_objective(objective)
        self.objective.check_gamma(stock.gamma)
        self.on_truncation = on_truncation
        self._stock: StockAugmentation = stock

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["original_reward"] = reward
        paid = 0.0
        if terminated or (truncated and self.on_truncation == "pay"):
            paid = float(self.objective.utility(self._stock.stock_times_discount))
            info["terminal_reward"] = paid
        return obs, paid, terminated, truncated, info
