"""Hyperparameter presets of the `rdo/` benchmarks, in the RL Zoo's yml style (one file per agent).

`detan.yml` holds DηN's presets and `qrdqn.yml` the sb3-contrib QR-DQN peer's (identical
hyperparameters, so that comparisons isolate the objective); `detatqc.yml` and `tqc.yml` do the same for
the continuous-action agents (`rdo/WealthGoal-v0`). Each top-level key is an env id; its
entries are `objective` (the objective the preset was tuned for), `gamma`, `n_timesteps`,
`policy` and keyword arguments of the agent (`policy_kwargs` is a mapping, never evaluated
code). [`preset`][rdo_envs.presets.preset] reads one as a [`Preset`][rdo_gym.presets.Preset]; `rdo_sb3.make_model`
builds its model.

`external.yml` holds the presets of the toy-text envs of `rdo_envs.external`
(`FrozenLake-v1`...), one section per agent; [`preset`][rdo_envs.presets.preset] reads them too, and
`preset_env_ids(agent, external=True)` lists them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from rdo_gym.objectives import make_objective
from rdo_gym.presets import AGENTS, Preset

__all__ = ["preset", "preset_env_ids"]


@cache
def _load(agent: str) -> dict[str, dict[str, Any]]:
    import yaml

    if agent not in AGENTS:
        raise ValueError(f"no presets for agent {agent!r}; expected one of {AGENTS}")
    text = resources.files(__package__).joinpath(f"{agent}.yml").read_text()
    return yaml.safe_load(text)


@cache
def _load_external(agent: str) -> dict[str, dict[str, Any]]:
    import yaml

    if agent not in AGENTS:
        raise ValueError(f"no presets for agent {agent!r}; expected one of {AGENTS}")
    text = resources.files(__package__).joinpath("external.yml").read_text()
    return yaml.safe_load(text).get(agent, {})


def preset_env_ids(agent: str = "detan", external: bool = False) -> tuple[str, ...]:
    """The env ids that have a preset for `agent`.

    Args:
        agent: One of [`AGENTS`][rdo_gym.presets.AGENTS] (`"detan"`, `"qrdqn"`, `"detatqc"`, `"tqc"`).
        external: `False`: the `rdo/` benchmarks; `True`: the toy-text envs of
            `rdo_envs.external` (`external.yml`).
    """
    return tuple(_load_external(agent) if external else _load(agent))


def preset(env_id: str, agent: str = "detan") -> Preset:
    """The preset of `agent` for a benchmark.

    Args:
        env_id: A benchmark id (`"rdo/CVaRGrid-v0"`, `"rdo_envs:"` prefix allowed) or an
            external toy-text id with a preset (`"FrozenLake-v1"`).
        agent: One of [`AGENTS`][rdo_gym.presets.AGENTS] (`"detan"`, `"qrdqn"`, `"detatqc"`, `"tqc"`).

    Returns:
        The [`Preset`][rdo_gym.presets.Preset] (gamma and objective explicit).

    Raises:
        ValueError: If the agent or the env has no preset.
    """
    name = env_id.split(":", 1)[-1]
    presets = {**_load_external(agent), **_load(agent)}
    if name not in presets:
        raise ValueError(f"no {agent} preset for env {env_id!r}; presets exist for {sorted(presets)}")
    entry = dict(presets[name])
    try:
        objective, gamma, steps = entry.pop("objective"), entry.pop("gamma"), entry.pop("n_timesteps")
    except KeyError as err:
        raise ValueError(f"the {agent} preset of {name} lacks {err.args[0]!r} (objective, gamma and n_timesteps "
                         "are explicit in every preset)") from None
    policy = entry.pop("policy", None)
    return Preset(agent=agent, env_id=name, objective=str(make_objective(objective)), gamma=gamma,
                  n_timesteps=int(float(steps)), policy=policy, hyperparameters=entry)
