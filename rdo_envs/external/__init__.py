"""Gymnasium toy-text envs written by others, stock-augmented in one line, with exact references.

[`make_external_env`][rdo_envs.external.make_external_env] is
[`rdo_envs.make_stock_env`][rdo_envs.stock_env.make_stock_env] for `FrozenLake-v1` (4x4, or 8x8 with `map_name="8x8"`;
also `FrozenLake8x8-v1`), `CliffWalking-v1` (`is_slippery=True`, or `CliffWalkingSlippery-v1`), `Taxi-v4` (`is_rainy`,
`rainy_probability`, `fickle_passenger`,
`fickle_probability`) and `Blackjack-v1` (`natural`, `sab`): the env of `gym.make(env_id, **env_kwargs)` in the
conventions of the `rdo/` benchmarks (`rdo_envs.external.tabular`: gamma = 1, the env's
`TimeLimit` as a fixed horizon with the time left in the observation and `terminated=True` at the horizon, a flat
float32 Box observation with one-hot states for DηN's `MlpPolicy`), wrapped in
[`StockAugmentation`][rdo_gym.stock.StockAugmentation]. [`external_model`][rdo_envs.external.external_model] is the
exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] of that env (state = (the env's state, steps taken), the horizon
being the model's) and [`external_reference`][rdo_envs.external.external_reference] its cached exact reference
([`rdo_gym.dp.exact_reference`][rdo_gym.dp.comparison.exact_reference]).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym

from rdo_envs.external.blackjack import BlackjackTabularEnv
from rdo_envs.external.registry import EXTERNAL_ENV_IDS, ExternalInfo, external_info
from rdo_envs.external.tabular import HorizonEnv, PTableEnv
from rdo_envs.external.taxi import FickleTaxiEnv
from rdo_envs.stock_env import default_initial_stock
from rdo_gym.dp.comparison import ExactReference
from rdo_gym.dp.model import TabularMDP
from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockAugmentation

__all__ = ["EXTERNAL_ENV_IDS", "ExternalInfo", "external_info", "make_external_base", "make_external_env",
           "external_model", "external_reference", "HorizonEnv", "PTableEnv", "BlackjackTabularEnv",
           "FickleTaxiEnv"]


def make_external_base(env_id: str, *, horizon: int | None = None, **env_kwargs: Any) -> HorizonEnv:
    """The env of `gym.make(env_id, **env_kwargs)` with the horizon convention, without the stock.

    Args:
        env_id: One of `EXTERNAL_ENV_IDS`.
        horizon: The horizon (default: the env's `TimeLimit`, or `ExternalInfo.horizon`);
            Blackjack has none (its episodes end by themselves).
        **env_kwargs: Keyword arguments of the env (`map_name`, `is_slippery`, `is_rainy`...).

    Returns:
        A [`HorizonEnv`][rdo_envs.external.tabular.HorizonEnv] (`.model` is its exact tabular model).
    """
    info = external_info(env_id, **env_kwargs)
    env_kwargs = {k: v for k, v in env_kwargs.items() if k != "max_episode_steps"}
    inner = gym.make(info.env_id, disable_env_checker=True, **env_kwargs)
    if info.family == "blackjack":
        if horizon is not None:
            inner.close()
            raise ValueError("Blackjack-v1 has no horizon: its episodes end by themselves (pass horizon=None)")
        return BlackjackTabularEnv(inner)
    horizon = info.horizon if horizon is None else horizon
    if info.family == "taxi" and inner.unwrapped.fickle_passenger:
        return FickleTaxiEnv(inner, horizon)
    return PTableEnv(inner, horizon)


def make_external_env(env_id: str, objective: Objective | str | None = None, *, horizon: int | None = None,
                      initial_stock: Any = None, flatten: bool = True, stock_scale: float | None = None,
                      **env_kwargs: Any) -> StockAugmentation:
    """A toy-text env stock-augmented in one line, as [`rdo_envs.make_stock_env`][rdo_envs.stock_env.make_stock_env]
    does.

    The initial stock `c0` of each episode is, unless `initial_stock` is given: the objective's
    fixed `c0` when it has one (`prob:1` starts at -1); otherwise (no objective, or CVaR, which
    searches its `c0`) a uniform integer sampler on `ExternalInfo.training_stocks`.

    Args:
        env_id: One of `EXTERNAL_ENV_IDS` (`"FrozenLake-v1"`, `"Taxi-v4"`...).
        objective: An [`Objective`][rdo_gym.objectives.Objective] or spec, or `None`.
        horizon: The horizon (default: the env's `TimeLimit`).
        initial_stock: `c0`, a number or a sampler `rng -> float`; overrides the default above.
        flatten: `True` gives a flat float32 Box `[obs..., stock_scale * stock]` (`MlpPolicy`);
            `False` a Dict `{"observation", "stock"}` (`MultiInputPolicy`).
        stock_scale: The factor on the stock in the observation (default: `ExternalInfo.stock_scale`).
        **env_kwargs: Keyword arguments of the env.

    Returns:
        The stock-augmented env (gamma = 1); `env.unwrapped` is the
        [`HorizonEnv`][rdo_envs.external.tabular.HorizonEnv].

    Examples:
        >>> import rdo_envs
        >>> env = rdo_envs.make_external_env("FrozenLake-v1", "prob:1")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, info["initial_stock"], info["state"], info["t"]  # one-hot (16), time left, stock
        ((18,), -1.0, 0, 0)
        >>> env.unwrapped.model.horizon  # FrozenLake-v1's TimeLimit
        100
        >>> round(rdo_envs.external_reference("FrozenLake-v1", "prob:1").optimum, 4)
        0.7442
    """
    info = external_info(env_id, **env_kwargs)
    obj = None if objective is None else make_objective(objective)
    if initial_stock is None:
        initial_stock = default_initial_stock(obj, info.training_stocks)
    base = make_external_base(env_id, horizon=horizon, **env_kwargs)
    scale = info.stock_scale if stock_scale is None else stock_scale
    return StockAugmentation(base, gamma=1.0, initial_stock=initial_stock, flatten=flatten, stock_scale=scale)


@lru_cache(maxsize=32)
def _model(env_id: str, horizon: int | None, kwargs: tuple[tuple[str, Any], ...]) -> TabularMDP:
    env = make_external_base(env_id, horizon=horizon, **dict(kwargs))
    try:
        return env.model
    finally:
        env.close()


def external_model(env_id: str, *, horizon: int | None = None, **env_kwargs: Any) -> TabularMDP:
    """The exact tabular model of [`make_external_env`][rdo_envs.external.make_external_env]'s env (cached).

    Args:
        env_id: One of `EXTERNAL_ENV_IDS`.
        horizon: The horizon (default: the env's `TimeLimit`).
        **env_kwargs: Keyword arguments of the env.
    """
    external_info(env_id, **env_kwargs)  # validates
    return _model(env_id, horizon, tuple(sorted(env_kwargs.items())))


@lru_cache(maxsize=64)
def _reference(env_id: str, objective: Objective, horizon: int | None,
               kwargs: tuple[tuple[str, Any], ...]) -> ExactReference:
    from rdo_gym.dp import exact_reference

    return exact_reference(_model(env_id, horizon, kwargs), objective)


def external_reference(env_id: str, objective: Objective | str, *, horizon: int | None = None,
                       **env_kwargs: Any) -> ExactReference:
    """The exact reference ([`rdo_gym.dp.exact_reference`][rdo_gym.dp.comparison.exact_reference]) of an external env
    and objective, cached.

    Args:
        env_id: One of `EXTERNAL_ENV_IDS`.
        objective: An [`Objective`][rdo_gym.objectives.Objective] or a spec such as `"prob:1"`.
        horizon: The horizon (default: the env's `TimeLimit`).
        **env_kwargs: Keyword arguments of the env.

    Returns:
        The [`ExactReference`][rdo_gym.dp.comparison.ExactReference] (the same object for the same arguments).
    """
    external_info(env_id, **env_kwargs)
    return _reference(env_id, make_objective(objective), horizon, tuple(sorted(env_kwargs.items())))
