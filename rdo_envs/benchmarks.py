"""The registry of `rdo/` benchmark ids, their metadata and Gymnasium registration."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from rdo_envs.cvar_grid import CVaRGridEnv
from rdo_envs.gridworld import GridBenchmarkEnv
from rdo_envs.homeostasis import HomeostasisEnv
from rdo_envs.target_grid import TargetGridEnv
from rdo_envs.wealth import WealthEnv, WealthGoalDiscreteEnv, WealthGoalEnv
from rdo_gym.objectives import Homeostasis, Objective

__all__ = ["ENV_IDS", "WEALTH_ENV_IDS", "BenchmarkInfo", "benchmark_info", "env_class", "register_envs",
           "default_kwargs", "check_objective_for_env"]

_CLASSES: dict[str, type[GridBenchmarkEnv]] = {
    "rdo/TargetGrid-v0": TargetGridEnv,
    "rdo/CVaRGrid-v0": CVaRGridEnv,
    "rdo/Homeostasis-v0": HomeostasisEnv,
}
ENV_IDS: tuple[str, ...] = tuple(_CLASSES)
"""The registered grid benchmark ids (one-hot cell observations, `Discrete` actions)."""

_WEALTH_CLASSES: dict[str, type[WealthEnv]] = {
    "rdo/WealthGoal-v0": WealthGoalEnv,
    "rdo/WealthGoalDiscrete-v0": WealthGoalDiscreteEnv,
}
WEALTH_ENV_IDS: tuple[str, ...] = tuple(_WEALTH_CLASSES)
"""The registered wealth-management benchmark ids (continuous `Box(0, 1, (1,))` actions and their
`Discrete` twin; [`rdo_envs.wealth`][rdo_envs.wealth]). [`env_class`][rdo_envs.benchmarks.env_class],
[`benchmark_info`][rdo_envs.benchmarks.benchmark_info], `rdo_envs.reference` and `rdo_envs.make_stock_env`
take them like the grid ids."""


def default_kwargs(cls: type[GridBenchmarkEnv] | type[WealthEnv]) -> dict[str, Any]:
    """The default dynamics kwargs of a benchmark class (its `__init__` defaults)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.name not in ("self", "render_mode") and p.default is not inspect.Parameter.empty}


def register_envs() -> None:
    """Register the `rdo/` ids with Gymnasium (ids already registered are left alone).

    `gym.spec(id).kwargs` lists the default dynamics parameters; the benchmark metadata are
    attributes of the env class (`gym.spec(id).entry_point`), see
    [`benchmark_info`][rdo_envs.benchmarks.benchmark_info].
    """
    for env_id, cls in {**_CLASSES, **_WEALTH_CLASSES}.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"{cls.__module__}:{cls.__name__}",
                         kwargs=default_kwargs(cls))


def env_class(env_id: str) -> type[GridBenchmarkEnv] | type[WealthEnv]:
    """The env class of a benchmark id (`"rdo/CVaRGrid-v0"`, with or without `"rdo_envs:"`; the grid ids
    `ENV_IDS` and the wealth ids `WEALTH_ENV_IDS`)."""
    name = env_id.split(":", 1)[1] if isinstance(env_id, str) and ":" in env_id else env_id
    classes = {**_CLASSES, **_WEALTH_CLASSES}
    if name not in classes:
        raise ValueError(f"unknown rdo benchmark id {env_id!r}; expected one of {list(ENV_IDS + WEALTH_ENV_IDS)}")
    return classes[name]


@dataclass(frozen=True)
class BenchmarkInfo:
    """Metadata of a registered benchmark (with the env's default kwargs).

    `default_objectives`: objective spec strings whose reference optima are documented;
    `gamma`: the discount the objectives are defined with (1); `training_stocks`: an integer
    `(low, high)` range of initial stocks to sample when training a stock-augmented agent for all
    documented objectives; `stock_scale`: suggested scale of the stock in the network input;
    `horizon`: the fixed cap on the episode length.
    """

    env_id: str
    env_class: type[GridBenchmarkEnv] | type[WealthEnv]
    default_objectives: tuple[str, ...]
    gamma: float
    training_stocks: tuple[int, int]
    stock_scale: float
    horizon: int


def benchmark_info(env_id: str) -> BenchmarkInfo:
    """Metadata of a registered benchmark id."""
    cls = env_class(env_id)
    return BenchmarkInfo(env_id=env_id.split(":", 1)[-1], env_class=cls,
                         default_objectives=cls.default_objectives, gamma=cls.gamma,
                         training_stocks=cls.training_stocks, stock_scale=cls.stock_scale,
                         horizon=cls().horizon)


def check_objective_for_env(env: GridBenchmarkEnv, objective: Objective) -> None:
    """Raise `ValueError` if a homeostasis objective's initial level is not the env's."""
    if isinstance(env, HomeostasisEnv) and isinstance(objective, Homeostasis):
        if objective.initial_level != env.initial_energy:
            raise ValueError(
                f"objective {objective} starts the internal level at {objective.initial_level:g} but "
                f"the env's energy starts at initial_energy={env.initial_energy}; use "
                f"'homeostasis:{objective.setpoint:g}:{env.initial_energy}'")
