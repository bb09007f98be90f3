"""One-line construction of a stock-augmented benchmark env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rdo_envs.benchmarks import check_objective_for_env, default_kwargs
from rdo_envs.gridworld import GridBenchmarkEnv
from rdo_envs.references import reference
from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockAugmentation, UniformStock

__all__ = ["make_stock_env"]


def make_stock_env(env_id: str, objective: Objective | str | None = None, *,
                   initial_stock: Any = None, flatten: bool = True, stock_scale: float | None = None,
                   **kwargs: Any) -> StockAugmentation:
    """``gym.make(env_id, **kwargs)`` wrapped in :class:`~rdo_gym.StockAugmentation` with the
    benchmark's gamma (1) and defaults.

    ``initial_stock`` (``c0``, a number or a sampler ``rng -> float``) defaults to the objective's
    ``c0`` when ``objective`` is given (for ``CVaR``: the DP-optimal ``c0* = -VaR`` from
    :func:`~rdo_envs.reference`), else to a uniform integer sampler on the benchmark's
    ``training_stocks`` range (to train one agent for all its documented objectives).
    ``flatten=True`` gives a flat float32 Box ``[obs..., stock_scale * stock]`` for an MLP;
    ``stock_scale`` defaults to the benchmark's suggestion.
    """
    env = gym.make(env_id, **kwargs)
    base = env.unwrapped
    if not isinstance(base, GridBenchmarkEnv):
        env.close()
        raise ValueError(f"make_stock_env needs an rdo benchmark id, got {env_id!r}")
    if initial_stock is None:
        if objective is None:
            low, high = base.training_stocks
            initial_stock = UniformStock(low, high, integer=True)
        else:
            obj = make_objective(objective)
            check_objective_for_env(base, obj)
            initial_stock = obj.initial_stock
            if initial_stock is None:  # CVaR: the optimal initial stock is searched
                # Only the env's dynamics parameters, not gym.make options such as max_episode_steps.
                dynamics = {k: v for k, v in kwargs.items() if k in default_kwargs(type(base))}
                initial_stock = reference(env_id, obj, **dynamics).initial_stock
    scale = base.stock_scale if stock_scale is None else stock_scale
    return StockAugmentation(env, gamma=base.gamma, initial_stock=initial_stock, flatten=flatten,
                             stock_scale=scale)
