"""One model factory: the model of a [`Preset`][rdo_gym.presets.Preset] on an env (DηN, QR-DQN, DηTQC or TQC)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rdo_gym.hyperparameters import check_hyperparameters
from rdo_gym.objectives import Objective
from rdo_gym.presets import AGENTS, STOCK_AGENTS, Preset

__all__ = ["make_model", "default_policy", "agent_class"]


def agent_class(agent: str) -> type:
    """The SB3 class of a preset's agent name: `DEtaN`, sb3-contrib `QRDQN`, `DEtaTQC` or sb3-contrib `TQC`.

    Args:
        agent: One of [`AGENTS`][rdo_gym.presets.AGENTS].

    Raises:
        ValueError: If `agent` is none of them.
    """
    if agent == "detan":
        from rdo_sb3.detan import DEtaN

        return DEtaN
    if agent == "detatqc":
        from rdo_sb3.detatqc import DEtaTQC

        return DEtaTQC
    if agent == "qrdqn":
        from sb3_contrib import QRDQN

        return QRDQN
    if agent == "tqc":
        from sb3_contrib import TQC

        return TQC
    raise ValueError(f"unknown agent {agent!r}; expected one of {AGENTS}")


def default_policy(env: gym.Env) -> str:
    """`MultiInputPolicy` for a Dict observation, else `MlpPolicy`.

    Args:
        env: The env the model will train on.
    """
    return "MultiInputPolicy" if isinstance(env.observation_space, spaces.Dict) else "MlpPolicy"


def make_model(preset: Preset, env: gym.Env, *, objective: Objective | str | None = None, seed: int | None = None,
               verbose: int = 0, **overrides: Any) -> Any:
    """The untrained model of `preset` on `env`, with the preset's gamma.

    `"detan"` gives [`DEtaN`][rdo_sb3.detan.DEtaN] and `"detatqc"` [`DEtaTQC`][rdo_sb3.detatqc.DEtaTQC], acting on
    `objective` (default: the preset's); `"qrdqn"` and `"tqc"` give plain sb3-contrib `QRDQN` and `TQC`,
    which maximize the mean whatever the objective (`objective` is then ignored, as are the stock agents'
    keys such as `relabel_stocks`).

    Args:
        preset: The agent, gamma, policy and hyperparameters (`rdo_envs.preset(env_id, agent)`,
            or [`Preset.defaults`][rdo_gym.presets.Preset.defaults]).
        env: The training env (stock-augmented for the stock agents, unless DηN's `naive=True`).
        objective: The stock agent's objective; `None` takes `preset.objective`.
        seed: The model's seed.
        verbose: SB3's verbosity.
        **overrides: Keyword arguments of the agent that replace the preset's (not `gamma`:
            change `preset.gamma`, e.g. `preset.with_overrides(gamma=0.99)`).

    Returns:
        The model (call `model.learn(preset.n_timesteps)`).

    Raises:
        ValueError: If `overrides` sets `gamma`, or a hyperparameter has a value the agent
            cannot use
            ([`rdo_gym.hyperparameters.check_hyperparameters`][rdo_gym.hyperparameters.check_hyperparameters]).
    """
    if "gamma" in overrides:
        raise ValueError("set the discount on the preset (preset.with_overrides(gamma=...)), not as an override: "
                         "the stock recursion uses it too")
    params = check_hyperparameters({**preset.kwargs(), **overrides})
    policy = preset.policy or default_policy(env)
    cls = agent_class(preset.agent)
    if preset.agent in STOCK_AGENTS:
        return cls(policy, env, objective=objective if objective is not None else preset.objective,
                   gamma=preset.gamma, seed=seed, verbose=verbose, **params)
    params.pop("relabel_stocks", None)
    return cls(policy, env, gamma=preset.gamma, seed=seed, verbose=verbose, **params)
