"""Where the stock lives in an observation, and the stock settings of a (vectorized) env.

Conventions (DESIGN.md section 2): the observation carries ``stock_scale * C_t`` where ``C_t`` is
the unscaled stock, ``C_{t+1} = (C_t + R_{t+1}) / gamma``. :class:`StockLocation` reads and writes
the *unscaled* stock in batches of torch observations (Dict: ``obs[key][..., -1]``; flat Box:
``obs[..., index]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

from rdo_gym.stock import ChoiceStock, StockAugmentation, UniformStock, find_stock_wrapper

__all__ = ["StockLocation", "StockSettings", "read_stock_settings", "WRAP_HINT"]

WRAP_HINT = ("wrap it with rdo_gym.StockAugmentation(env, gamma=..., initial_stock=rdo_gym.UniformStock(low, "
             "high)) (flatten=True for a flat Box and 'MlpPolicy', the default Dict for 'MultiInputPolicy')")


@dataclass(frozen=True)
class StockLocation:
    """The stock inside a batch of observations: Dict ``key`` or flat-Box ``index``, and ``scale``.

    Exactly one of ``key`` / ``index`` is set. ``scale`` is the env's ``stock_scale``: the
    observation holds ``scale * C`` and :meth:`read` returns ``C``.
    """

    key: str | None
    index: int | None
    scale: float

    @classmethod
    def for_space(cls, space: spaces.Space, stock_key: str, stock_index: int, scale: float) -> StockLocation:
        """Validate ``stock_key`` (Dict space) or ``stock_index`` (1-D Box space) against ``space``."""
        if isinstance(space, spaces.Dict):
            if stock_key not in space.spaces:
                raise ValueError(f"stock_key={stock_key!r} is not a key of the observation space; its "
                                 f"keys are {sorted(space.spaces)}. Pass the key holding the stock, or "
                                 f"{WRAP_HINT}")
            sub = space.spaces[stock_key]
            if not isinstance(sub, spaces.Box) or sub.shape is None or len(sub.shape) != 1:
                raise ValueError(f"observation[{stock_key!r}] must be a 1-D Box holding the stock, got {sub}")
            return cls(stock_key, None, float(scale))
        if isinstance(space, spaces.Box) and space.shape is not None and len(space.shape) == 1:
            n = space.shape[0]
            if not (-n <= int(stock_index) < n):
                raise ValueError(f"stock_index={stock_index} does not exist in a flat observation of "
                                 f"size {n} (accepted: {-n} to {n - 1}; StockAugmentation(flatten=True) "
                                 "puts the stock last, stock_index=-1)")
            return cls(None, int(stock_index) % n, float(scale))
        raise ValueError(f"cannot find the stock in observation space {space}: DEtaN needs a Dict "
                         f"observation with a {stock_key!r} key or a flat 1-D Box with the stock at "
                         f"stock_index; {WRAP_HINT}")

    def read_scaled(self, obs: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        """The stock entries ``scale * C`` as stored, shape ``(batch,)`` (a view, no copy)."""
        if self.key is not None:
            return obs[self.key][..., -1]  # type: ignore[index]
        return obs[..., self.index]  # type: ignore[index]

    def read_scaled_numpy(self, obs: th.Tensor | dict[str, th.Tensor]) -> np.ndarray:
        """:meth:`read_scaled` as a numpy view, for CPU tensors."""
        if self.key is not None:
            return obs[self.key].numpy()[..., -1]  # type: ignore[index]
        return obs.numpy()[..., self.index]  # type: ignore[union-attr]

    def read(self, obs: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        """Unscaled stocks ``C`` of a batch of (raw, unpreprocessed) observations, shape ``(batch,)``."""
        if self.key is not None:
            raw = obs[self.key][..., -1]  # type: ignore[index]
        else:
            raw = obs[..., self.index]  # type: ignore[index]
        return raw.float() / self.scale

    def write(self, obs: th.Tensor | dict[str, th.Tensor], stock: th.Tensor) -> Any:
        """A copy of ``obs`` whose stock is the unscaled ``stock`` (shape ``(batch,)``)."""
        if self.key is not None:
            old = obs[self.key]  # type: ignore[index]
            new = (stock * self.scale).to(old.dtype).view(-1, *([1] * (old.dim() - 1))).expand_as(old).clone()
            return {**obs, self.key: new}  # type: ignore[dict-item]
        out = obs.clone()  # type: ignore[union-attr]
        out[..., self.index] = (stock * self.scale).to(out.dtype)
        return out

    def write_numpy(self, obs: Any, stocks: np.ndarray) -> Any:
        """A batch of ``len(stocks)`` copies of one unbatched numpy ``obs`` carrying ``stocks``."""
        stocks = np.asarray(stocks, dtype=np.float64)
        k = stocks.shape[0]
        if self.key is not None:
            out = {key: np.repeat(np.asarray(v)[None], k, axis=0) for key, v in obs.items()}
            col = out[self.key]
            col[...] = (stocks * self.scale).reshape(-1, *([1] * (col.ndim - 1))).astype(col.dtype)
            return out
        out = np.repeat(np.asarray(obs)[None], k, axis=0)
        out[:, self.index] = (stocks * self.scale).astype(out.dtype)
        return out


@dataclass(frozen=True)
class StockSettings:
    """What DEtaN needs to know about an env's :class:`~rdo_gym.StockAugmentation`.

    ``stock_range`` is the initial-stock sampler's range (``UniformStock`` bounds, ``ChoiceStock``
    min/max, or ``(c, c)`` for a fixed number; ``None`` for a custom callable); ``integer`` says the
    sampler draws integers.
    """

    gamma: float
    scale: float
    flatten: bool
    stock_range: tuple[float, float] | None
    integer: bool


def _sampler_range(initial_stock: Any) -> tuple[tuple[float, float] | None, bool]:
    if isinstance(initial_stock, UniformStock):
        return (initial_stock.low, initial_stock.high), initial_stock.integer
    if isinstance(initial_stock, ChoiceStock):
        v = initial_stock.values
        return (float(v.min()), float(v.max())), bool(np.all(v == np.round(v)))
    if callable(initial_stock):
        low, high = getattr(initial_stock, "low", None), getattr(initial_stock, "high", None)
        if low is not None and high is not None:
            return (float(low), float(high)), bool(getattr(initial_stock, "integer", False))
        return None, False
    c = float(initial_stock)
    return (c, c), False


def _from_wrapper(w: StockAugmentation, env: gym.Env) -> StockSettings:
    if env.observation_space != w.observation_space:
        raise ValueError(
            f"a wrapper above StockAugmentation changes the observation ({w.observation_space} -> "
            f"{env.observation_space}), so DEtaN cannot tell where the stock is; apply "
            "StockAugmentation last (outermost), after every observation wrapper")
    rng, integer = _sampler_range(w.initial_stock)
    return StockSettings(w.gamma, w.stock_scale, w.flatten, rng, integer)


def read_stock_settings(env: gym.Env | VecEnv) -> StockSettings | None:
    """Stock settings of ``env`` (a gymnasium env or an SB3 VecEnv, first sub-env), or ``None``."""
    if isinstance(env, VecEnv):
        base = env
        while isinstance(base, VecEnvWrapper):
            base = base.venv
        if isinstance(base, DummyVecEnv):
            w = find_stock_wrapper(base.envs[0])
            return None if w is None else _from_wrapper(w, base.envs[0])
        try:  # e.g. SubprocVecEnv: attributes are looked up through the wrapper chain remotely
            scale, gamma, flatten, init = (base.get_attr(name, indices=[0])[0] for name in
                                           ("stock_scale", "gamma", "flatten", "initial_stock"))
        except AttributeError:
            return None
        rng, integer = _sampler_range(init)
        return StockSettings(float(gamma), float(scale), bool(flatten), rng, integer)
    w = find_stock_wrapper(env)
    return None if w is None else _from_wrapper(w, env)
