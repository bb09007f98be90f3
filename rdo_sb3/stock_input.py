"""The stock as an SB3 agent finds it: the env's [`StockLayout`][rdo_gym.stock.StockLayout], and writing new
stocks into batches of torch observations (stock relabelling).

Conventions (`docs/core.md`): the observation carries `scale * C_t` where `C_t` is the
unscaled stock, `C_{t+1} = (C_t + R_{t+1}) / gamma` (the `"raw"` representation), or `scale * X_t` and
`gamma^t` with `X_t = gamma^t C_t` (`"discounted"`). The layout is written by
[`StockAugmentation`][rdo_gym.stock.StockAugmentation]; agents read it, they never re-specify it, and read
and write `C_t` through it whatever the representation.
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


def write_stocks(layout: StockLayout, observations: Any, stocks: th.Tensor, where: th.Tensor | None = None) -> Any:
    """A copy of a batch of torch `observations` carrying the unscaled `stocks` `(batch,)`.

    With a discounted layout the entry written is `scale * gamma^t * C`, at each observation's own
    `gamma^t` (left unchanged), so that reading it back gives `C`. `where` (a boolean `(batch,)`):
    write only those rows, and leave the others bit for bit as they were (reading `C` and writing it
    back would round `X = gamma^t (X / gamma^t)`, and give NaN once `gamma^t` underflowed).

    Examples:
        >>> import torch as th
        >>> from rdo_gym import StockLayout
        >>> layout = StockLayout(0.5, 1.0, None, 1, None, "discounted")
        >>> obs = th.tensor([[9.0, 3.0, 0.25], [9.0, 1.0, 1.0]])  # X = 3 at gamma^t = 0.25: C = 12
        >>> write_stocks(layout, obs, th.tensor([4.0, 4.0]), where=th.tensor([True, False])).tolist()
        [[9.0, 1.0, 0.25], [9.0, 1.0, 1.0]]
    """
    if layout.key is not None:
        old = observations[layout.key]
        if layout.discounted:
            new = old.clone()
            value = (stocks * old[..., 1] * layout.scale).to(old.dtype)
            new[..., 0] = value if where is None else th.where(where, value, old[..., 0])
        else:
            value = (stocks * layout.scale).to(old.dtype).view(-1, *([1] * (old.dim() - 1))).expand_as(old)
            new = value.clone() if where is None else th.where(where.view(-1, *([1] * (old.dim() - 1))), value, old)
        return {**observations, layout.key: new}
    out = observations.clone()
    value = stocks * layout.scale
    if layout.discounted:
        value = value * out[..., layout.index + 1]
    value = value.to(out.dtype)
    out[..., layout.index] = value if where is None else th.where(where, value, out[..., layout.index])
    return out
