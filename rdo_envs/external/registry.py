"""Which toy-text envs [`rdo_envs.external`][rdo_envs.external] supports, and their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

__all__ = ["EXTERNAL_ENV_IDS", "ExternalInfo", "external_info"]

# env id -> (family, default horizon when the spec has no TimeLimit, training stocks, stock scale,
#            reference objectives)
_FAMILIES: dict[str, tuple[str, int | None, tuple[int, int], float, tuple[str, ...]]] = {
    "FrozenLake-v1": ("frozenlake", None, (-1, 0), 1.0, ("mean", "prob:1")),
    "FrozenLake8x8-v1": ("frozenlake", None, (-1, 0), 1.0, ("mean", "prob:1")),
    "CliffWalking-v1": ("cliffwalking", 50, (13, 60), 0.02, ("mean", "cvar:0.1", "cvar:0.25")),
    "CliffWalkingSlippery-v1": ("cliffwalking", 50, (13, 60), 0.02, ("mean", "cvar:0.1", "cvar:0.25")),
    "Taxi-v4": ("taxi", None, (-20, 20), 0.05, ("mean", "cvar:0.1")),
    "Blackjack-v1": ("blackjack", None, (-1, 1), 1.0, ("mean", "prob:1", "prob:0", "cvar:0.25")),
}
EXTERNAL_ENV_IDS: tuple[str, ...] = tuple(k for k in _FAMILIES if k in gym.registry)
"""The ids [`rdo_envs.make_external_env`][rdo_envs.external.make_external_env] accepts (those this
Gymnasium registers).
"""


@dataclass(frozen=True)
class ExternalInfo:
    """Defaults of one external env (with given env kwargs).

    Attributes:
        env_id: The Gymnasium id.
        family: `"frozenlake"`, `"cliffwalking"`, `"taxi"` or `"blackjack"`.
        horizon: The default horizon: `max_episode_steps` if given, else the spec's `TimeLimit`,
            else a family default (CliffWalking: 50); `None` for Blackjack.
        training_stocks: An integer `(low, high)` range of initial stocks to sample when the
            objective does not fix `c0` (CVaR, or no objective).
        stock_scale: The factor on the stock in the observation.
        reference_objectives: The objective specs of the documented reference table.
    """

    env_id: str
    family: str
    horizon: int | None
    training_stocks: tuple[int, int]
    stock_scale: float
    reference_objectives: tuple[str, ...]


def external_info(env_id: str, **env_kwargs: Any) -> ExternalInfo:
    """The defaults of an external env id.

    Args:
        env_id: One of `EXTERNAL_ENV_IDS`.
        **env_kwargs: Keyword arguments of the env (`max_episode_steps` sets the default horizon).

    Raises:
        ValueError: For an unsupported id (`Taxi-v3` where this Gymnasium has `Taxi-v4`...).
    """
    if env_id not in EXTERNAL_ENV_IDS:
        raise ValueError(f"unsupported external env {env_id!r}; expected one of {list(EXTERNAL_ENV_IDS)}")
    family, default_horizon, stocks, scale, objectives = _FAMILIES[env_id]
    if family == "blackjack":
        horizon = None
    else:
        horizon = env_kwargs.get("max_episode_steps") or gym.spec(env_id).max_episode_steps or default_horizon
    return ExternalInfo(env_id, family, horizon, stocks, scale, objectives)
