"""Objective-specific terminal reward ("reward design") for any classic agent.

The wrapped env pays 0 during the episode and `f(c0 + G)` when it ends, where `f` is the
objective's utility and `c0 + G = gamma^T C_T` is read from the [`StockAugmentation`][rdo_gym.stock.StockAugmentation]
beneath. A classic agent (PPO, DQN, A2C...) that maximizes this reward *undiscounted*
(`gamma=1` for the agent) maximizes `E[f(c0 + G)]` exactly, provided its observation carries
the stock (it does: the stock wrapper is underneath).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym

from rdo_gym.objectives import Expectation, Objective, make_objective
from rdo_gym.stock import StockAugmentation, find_stock_wrapper

__all__ = ["TerminalObjectiveReward"]

TRUNCATION_CHOICES = ("pay", "zero")


class TerminalObjectiveReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Reward 0 during the episode and `f(c0 + G)` at its end, for a chosen objective.

    Args:
        env: an env with a [`StockAugmentation`][rdo_gym.stock.StockAugmentation] in its wrapper chain (the
            observation must carry the stock for the objective to be optimizable).
        objective: an [`Objective`][rdo_gym.objectives.Objective] or its string form (`"cvar:0.1"`).
            The episode's `c0` is the stock wrapper's; for objectives with a fixed initial stock
            (`target`, `prob`, `homeostasis`) set the stock wrapper's `initial_stock` to
            `objective.initial_stock`.
        on_truncation: what a truncated (not terminated) episode pays: `"zero"` (the default:
            nothing, right for SB3's agents, which bootstrap through truncation such as a
            `TimeLimit`, so that the value of the last observation stands for the rest of the
            episode), or `"pay"` the terminal reward computed from the stock so far (truncation
            *ends the problem*: right for an agent that does not bootstrap through truncation).

    `info["original_reward"]` keeps the env's reward of each step and
    `info["terminal_reward"]` is set on the last step. A fixed numeric `initial_stock` of the
    stock wrapper that differs from the objective's own (e.g. `target:5` with `c0 != -5`)
    triggers a warning: the agent would then optimize another target. The objective must be
    valid for the stock wrapper's gamma ([`check_gamma`][rdo_gym.objectives.Objective.check_gamma]).

    Examples:
        >>> import gymnasium as gym
        >>> from rdo_gym import StockAugmentation
        >>> stock = StockAugmentation(gym.make("CartPole-v1"), initial_stock=-3.0, flatten=True)
        >>> env = TerminalObjectiveReward(stock, "target:3")       # pays -|G - 3| at the end
        >>> _ = env.reset(seed=0)
        >>> rewards, done = [], False
        >>> while not done:                                        # always push left: CartPole soon falls
        ...     _, reward, terminated, truncated, info = env.step(0)
        ...     rewards.append(reward)
        ...     done = terminated or truncated
        >>> G = len(rewards)                                       # CartPole pays 1 per step
        >>> set(rewards[:-1]), rewards[-1] == -abs(G - 3)          # 0 during the episode, -|G - 3| at its end
        ({0.0}, True)
    """

    def __init__(self, env: gym.Env, objective: Objective | str,
                 on_truncation: Literal["pay", "zero"] = "zero"):
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
        wanted, given = self.objective.initial_stock, stock.initial_stock
        if (not self.objective.searches_initial_stock and not callable(given) and given != wanted
                and not isinstance(self.objective, Expectation)):
            gym.logger.warn(
                f"TerminalObjectiveReward: objective {self.objective} prescribes the initial stock "
                f"{wanted + 0.0:g} but the StockAugmentation beneath starts from {given + 0.0:g}, so the "
                f"terminal reward is f({given + 0.0:g} + G); pass initial_stock={wanted + 0.0:g} to "
                "StockAugmentation unless this is intended")

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["original_reward"] = reward
        paid = 0.0
        if terminated or (truncated and self.on_truncation == "pay"):
            total = self._stock.stock_times_discount  # c0 + G = gamma^T C_T
            paid = float(self.objective.utility(total))
            if not math.isfinite(paid):
                raise ValueError(f"TerminalObjectiveReward: the utility of {self.objective} at "
                                 f"c0 + G = {total!r} is {paid}; the terminal reward must be finite")
            info["terminal_reward"] = paid
        return obs, paid, terminated, truncated, info
