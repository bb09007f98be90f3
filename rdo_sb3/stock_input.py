"""The stock as an SB3 agent finds it: the env's [`StockLayout`][rdo_gym.stock.StockLayout], and writing new
stocks into batches of torch observations (stock relabelling).

Conventions (`docs/core.md`): the observation carries `scale * C_t` where `C_t` is the
unscaled stock, `C_{t+1} = (C_t + R_{t+1}) / gamma`. The layout is written by
[`StockAugmentation`][rdo_gym.stock.StockAugmentation]; agents read it, they never re-specify it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

from rdo_gym.stock import StockLayout, find_stock_wrapper

__all__ = ["read_stock_layout", "write_stocks", "WRAP_HINT"]

WRAP_HINT = ("wrap it with rdo_gym.StockAugmentation(env, gamma=..., initial_stock=rdo_gym.UniformStock(low, "
             "high)) (flatten=True for a flat Box and 'MlpPolicy', the default Dict for 'MultiInputPolicy')")


def _outermost_layout(env: gym.Env) -> StockLayout | None:
    wrapper = find_stock_wrapper(env)
    if wrapper is None:
        return None
    if env.observation_space != wrapper.observation_space:
        raise ValueError(
            f"a wrapper above StockAugmentation changes the observation ({wrapper.observation_space} -> "
            f"{env.observation_space}), so the agent cannot tell where the stock is; apply "
            "StockAugmentation last (outermost), after every observation wrapper")
    return wrapper.stock_layout


def read_stock_layout(env: gym.Env | VecEnv) -> StockLayout | None:
    """The [`StockLayout`][rdo_gym.stock.StockLayout] of `env` (a gymnasium env or an SB3 VecEnv, first
    sub-env), or `None` when it carries no stock."""
    if not isinstance(env, VecEnv):
        return _outermost_layout(env)
    base = env
    while isinstance(base, VecEnvWrapper):
        base = base.venv
    if isinstance(base, DummyVecEnv):
        return _outermost_layout(base.envs[0])
    try:  # e.g. SubprocVecEnv: the attribute is looked up through the wrapper chain remotely
        layout = base.get_attr("stock_layout", indices=[0])[0]
    except AttributeError:
        return None
    return layout if isinstance(layout, StockLayout) else None


def write_stocks(layout: StockLayout, observations: Any, stocks: th.Tensor) -> Any:
    """A copy of a batch of torch `observations` carrying the unscaled `stocks` `(batch,)`."""
    if layout.key is not None:
        old = observations[layout.key]
        new = (stocks * layout.scale).to(old.dtype).view(-1, *([1] * (old.dim() - 1))).expand_as(old).clone()
        return {**observations, layout.key: new}
    out = observations.clone()
    out[..., layout.index] = (stocks * layout.scale).to(out.dtype)
    return out
