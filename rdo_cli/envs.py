"""Env construction for the command line: the env of a run, and the exact reference of an env.

A benchmark's stock-augmented env is `rdo_envs.make_stock_env`'s; any other env is wrapped in
[`StockAugmentation`][rdo_gym.stock.StockAugmentation] here, after Gymnasium's `FlattenObservation` when SB3 cannot
take its observation space (a Tuple, as Blackjack's, or a nested Dict). An env has an exact model when it is an `rdo/`
benchmark (`env.unwrapped.model`) or a Gymnasium toy-text env exposing its transition table
`P` (FrozenLake, Taxi, CliffWalking...), whose `TimeLimit` becomes the DP horizon.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rdo_cli.config import RunConfig, env_name
from rdo_cli.errors import CliError
from rdo_gym import Objective, StockAugmentation, UniformStock
from rdo_gym.dp import ExactReference, TabularMDP, exact_reference
from rdo_gym.presets import STOCK_AGENTS

__all__ = ["make_env", "make_plain_env", "check_objective_for_env", "tabular_model", "reference_for",
           "sb3_takes", "unreachable_warning"]


@contextmanager
def _make_errors(env_id: str, kwargs: dict[str, Any]) -> Iterator[None]:
    """`gym.make`'s errors (bad kwargs, missing extras) as CliErrors with the env's own message."""
    try:
        yield
    except CliError:
        raise
    except Exception as err:  # bad kwargs, missing extras (DependencyNotInstalled)...
        raise CliError(f"cannot make {env_id!r} with {kwargs or {}}: {type(err).__name__}: {err}".splitlines()[0]) \
            from None


def make_plain_env(env_id: str, kwargs: dict[str, Any] | None = None) -> gym.Env:
    """`gym.make(env_id, **kwargs)` with its errors as CliErrors.

    Args:
        env_id: A Gymnasium id.
        kwargs: `gym.make` keyword arguments.
    """
    with _make_errors(env_id, kwargs or {}):
        return gym.make(env_name(env_id), **(kwargs or {}))


def sb3_takes(space: spaces.Space) -> bool:
    """Whether SB3's policies take `space` as it is (Box, Discrete, MultiDiscrete, MultiBinary,
    or a Dict of those).

    Args:
        space: An observation space.
    """
    simple = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    if isinstance(space, spaces.Dict):
        return all(isinstance(s, simple) for s in space.spaces.values())
    return isinstance(space, simple)


def _sb3_ready(env: gym.Env) -> gym.Env:
    """`env`, flattened to a 1-D Box (`FlattenObservation`) when SB3 cannot take its observations."""
    if sb3_takes(env.observation_space):
        return env
    try:
        return gym.wrappers.FlattenObservation(env)
    except Exception as err:  # e.g. a Text or Graph space
        raise CliError(f"the observations of {env.spec.id if env.spec else env} ({env.observation_space}) can "
                       f"neither be used by SB3 nor flattened: {err}") from None


def check_objective_for_env(env: gym.Env, objective: Objective) -> None:
    """A benchmark's own objective checks (e.g. the homeostasis initial level), as CliErrors.

    Args:
        env: The env (any wrapper of it).
        objective: The objective.
    """
    from rdo_envs.benchmarks import check_objective_for_env as check
    from rdo_envs.gridworld import GridBenchmarkEnv

    if isinstance(env.unwrapped, GridBenchmarkEnv):
        try:
            check(env.unwrapped, objective)
        except ValueError as err:
            raise CliError(str(err)) from None


def make_env(config: RunConfig, *, render_mode: str | None = None) -> gym.Env:
    """The env of a run: `gym.make(env_id, **env_kwargs)`, stock-augmented for DηN.

    A benchmark's is [`rdo_envs.make_stock_env`][rdo_envs.stock_env.make_stock_env] with the run's stocks and gamma;
    another env with a 1-D Box observation gets a flat `[obs..., scaled stock]` (`MlpPolicy`), anything
    else a Dict (`MultiInputPolicy`). QR-DQN gets the plain env.

    Args:
        config: The run's configuration.
        render_mode: A render mode for `gym.make`.
    """
    kwargs = dict(config.env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    stocks = config.stocks
    if config.algo not in STOCK_AGENTS or stocks is None:
        env = make_plain_env(config.env_id, kwargs)
        check_objective_for_env(env, config.objective)
        return _sb3_ready(env)
    if stocks.range is None:
        if stocks.auto:  # DEtaN(stock_range=AutoStockRange) sets the sampler after its warm-up
            initial_stock: Any = 0.0 if config.objective.searches_initial_stock else config.objective.initial_stock
        elif config.objective.searches_initial_stock:
            raise CliError(f"run of {config.env_id} has no stock range to search {config.objective}'s initial "
                           "stock in: give one with --stock-range LOW HIGH")
        else:
            initial_stock = config.objective.initial_stock
    else:
        initial_stock = UniformStock(*stocks.range, integer=stocks.integer)
    if config.benchmark:
        import rdo_envs

        with _make_errors(config.env_id, kwargs):
            env = rdo_envs.make_stock_env(env_name(config.env_id), initial_stock=initial_stock, flatten=True,
                                          stock_scale=stocks.scale, gamma=config.gamma, **kwargs)
        check_objective_for_env(env, config.objective)
        return env
    env = _sb3_ready(make_plain_env(config.env_id, kwargs))
    space = env.observation_space
    flatten = isinstance(space, spaces.Box) and len(space.shape) == 1
    return StockAugmentation(env, gamma=config.gamma, initial_stock=initial_stock, flatten=flatten,
                             stock_scale=stocks.scale, representation=stocks.representation)


def tabular_model(env: gym.Env, horizon: int | None = None) -> TabularMDP | None:
    """The exact model of `env` (see the module doc), or `None`.

    Args:
        env: The env (any wrapper of it).
        horizon: Overrides a toy-text env's `max_episode_steps`.
    """
    base = env.unwrapped
    model = getattr(base, "model", None)
    if isinstance(model, TabularMDP):
        return model if horizon is None else model.with_horizon(horizon)
    if hasattr(base, "P"):
        if horizon is None and env.spec is not None:
            horizon = env.spec.max_episode_steps
        return TabularMDP.from_gymnasium(base, horizon=horizon)
    return None


def reference_for(config: RunConfig, objective: Objective, env: gym.Env) -> ExactReference | None:
    """The exact reference of a run's env for `objective`, or `None` (no tabular model, gamma < 1).

    A benchmark's comes from the cached [`rdo_envs.reference`][rdo_envs.references.reference] (with the run's dynamics
    kwargs); a toy-text env's is solved on its transition table, Blackjack's on the model of
    [`rdo_envs.external_reference`][rdo_envs.external.external_reference].

    Args:
        config: The run's configuration.
        objective: The objective.
        env: The run's env (for a toy-text env's model).
    """
    if config.gamma != 1.0:
        return None
    if config.benchmark:
        import rdo_envs
        from rdo_envs.benchmarks import default_kwargs

        dynamics = default_kwargs(rdo_envs.env_class(env_name(config.env_id)))
        kwargs = {k: v for k, v in config.env_kwargs.items() if k in dynamics}
        try:
            return rdo_envs.reference(env_name(config.env_id), objective, **kwargs)
        except ValueError as err:
            raise CliError(str(err)) from None
    mdp = tabular_model(env)
    if mdp is not None:
        return exact_reference(mdp, objective)
    import rdo_envs  # Blackjack has no transition table: rdo_envs.external builds its model from the card rules

    if env_name(config.env_id) in rdo_envs.EXTERNAL_ENV_IDS:
        try:
            return rdo_envs.external_reference(env_name(config.env_id), objective, **config.env_kwargs)
        except (TypeError, ValueError) as err:
            raise CliError(f"no exact reference for {config.env_id} with {config.env_kwargs}: {err}") from None
    return None


def unreachable_warning(objective: Objective, mdp: TabularMDP | None) -> str | None:
    """A warning when `objective`'s target or threshold lies outside the returns `mdp` can reach.

    Args:
        objective: The objective.
        mdp: The env's exact model (`None`: nothing to check).
    """
    from rdo_cli.formatting import num
    from rdo_gym import ProbabilityAtLeast, TargetReturn

    if mdp is None or not isinstance(objective, (TargetReturn, ProbabilityAtLeast)):
        return None
    bounds = mdp.return_range()
    if bounds is None:
        return None
    low, high = bounds
    value, what = ((objective.target, "target") if isinstance(objective, TargetReturn)
                   else (objective.threshold, "threshold"))
    if low <= value <= high:
        return None
    consequence = ("every policy is then as good as the one maximizing E[G]" if value > high else
                   "every policy is then as good as the one minimizing E[G]") if what == "target" else (
        "P(G >= threshold) is 0 for every policy" if value > high else "P(G >= threshold) is 1 for every policy")
    return (f"{what} {num(value)} of {objective} lies outside the returns this env can reach "
            f"[{num(low)}, {num(high)}]: {consequence}")
