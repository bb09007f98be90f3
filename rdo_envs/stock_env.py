"""One-line construction of a stock-augmented benchmark env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rdo_envs.benchmarks import check_objective_for_env
from rdo_envs.gridworld import GridBenchmarkEnv
from rdo_envs.wealth import WealthEnv
from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockAugmentation, UniformStock

__all__ = ["make_stock_env", "default_initial_stock"]


def default_initial_stock(objective: Objective | None, training_stocks: tuple[int, int]) -> float | UniformStock:
    """A benchmark's initial stock: the objective's fixed `c0`, else (a searched `c0`, or no
    objective) integers drawn uniformly from the benchmark's training range.

    Args:
        objective: The objective, or `None`.
        training_stocks: The benchmark's `(low, high)` training range of stocks.
    """
    if objective is not None and not objective.searches_initial_stock:
        return objective.initial_stock
    low, high = training_stocks
    return UniformStock(low, high, integer=True)


def make_stock_env(env_id: str, objective: Objective | str | None = None, *,
                   initial_stock: Any = None, flatten: bool = True, stock_scale: float | None = None,
                   gamma: float | None = None, **kwargs: Any) -> StockAugmentation:
    """`gym.make(env_id, **kwargs)` wrapped in [`StockAugmentation`][rdo_gym.stock.StockAugmentation] with the
    benchmark's defaults.

    The initial stock `c0` of each episode is, unless `initial_stock` is given: the
    objective's fixed `c0` when `objective` has one (`target:4` starts at -4); otherwise
    (no objective, or one that searches its `c0`, as `CVaR`) a uniform integer sampler on the
    benchmark's `training_stocks` range. That range is where a stock-augmented agent learns and
    where its initial-stock search looks ([`rdo_sb3.evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] resets
    each episode at the agent's own `c0`); to start at the DP's `c0*` pass
    `initial_stock=reference(env_id, objective).initial_stock`. No DP is run.

    Args:
        env_id: A benchmark id (`"rdo/CVaRGrid-v0"`, or a wealth id such as `"rdo/WealthGoalDiscrete-v0"`).
        objective: An [`Objective`][rdo_gym.objectives.Objective] or spec, checked against the env (e.g. the
            homeostasis initial level), or `None`.
        initial_stock: `c0`, a number or a sampler `rng -> float`; overrides the default above.
        flatten: `True` gives a flat float32 Box `[obs..., stock_scale * stock]` for an MLP.
        stock_scale: The factor on the stock in the observation (default: the benchmark's).
        gamma: The discount of the stock recursion (default: the benchmark's, 1).
        **kwargs: `gym.make` keyword arguments (dynamics parameters, `render_mode`,
            `max_episode_steps`...).

    Returns:
        The stock-augmented env.
    """
    env = gym.make(env_id, **kwargs)
    base = env.unwrapped
    if not isinstance(base, (GridBenchmarkEnv, WealthEnv)):
        env.close()
        raise ValueError(f"make_stock_env needs an rdo benchmark id, got {env_id!r}")
    obj = None if objective is None else make_objective(objective)
    if obj is not None:
        try:
            check_objective_for_env(base, obj)
        except ValueError:
            env.close()
            raise
    if initial_stock is None:
        initial_stock = default_initial_stock(obj, base.training_stocks)
    scale = base.stock_scale if stock_scale is None else stock_scale
    return StockAugmentation(env, gamma=base.gamma if gamma is None else gamma, initial_stock=initial_stock,
                             flatten=flatten, stock_scale=scale)
