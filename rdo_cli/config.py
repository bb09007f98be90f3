"""Run folders of the command line: the settings of a training run and the envs built from them.

A run folder holds ``model.zip`` (SB3's format) and ``run.yml`` (:class:`RunConfig`), from which
``rdo evaluate`` and ``rdo plot`` rebuild the same env and objective.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rdo_gym import Objective, StockAugmentation, UniformStock, make_objective

__all__ = ["CliError", "RunConfig", "ALGOS", "MODEL_FILE", "RUN_FILE", "check_env_id", "parse_objective",
           "parse_hyperparams", "make_env", "make_plain_env", "check_objective_for_env", "load_run", "is_benchmark",
           "stock_defaults", "default_gamma", "default_policy"]

#: Algorithms ``rdo train`` knows: DηN (stock-augmented) and its peer, plain sb3-contrib QR-DQN.
ALGOS = ("detan", "qrdqn")
MODEL_FILE = "model.zip"
RUN_FILE = "run.yml"


class CliError(Exception):
    """A user error: printed as one line by ``rdo`` (exit status 2), never as a traceback."""


def is_benchmark(env_id: str) -> bool:
    """Whether ``env_id`` is a registered ``rdo/`` benchmark (with an exact model and presets)."""
    import rdo_envs

    return env_id.split(":", 1)[-1] in rdo_envs.ENV_IDS


def check_env_id(env_id: str) -> str:
    """``env_id`` if Gymnasium knows it (after registering the ``rdo/`` benchmarks), else a CliError."""
    import rdo_envs  # noqa: F401  (registers rdo/...)

    name = env_id.split(":", 1)[-1]
    if name.startswith("ALE/"):  # Gymnasium 1.x registers the Atari ids only once ale_py is imported
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:
            raise CliError(f"{env_id} needs the Atari envs: pip install ale-py") from None
    if ":" in env_id:  # "module:Id" imports the module, as gym.make does
        try:
            gym.spec(env_id)
        except (gym.error.Error, ModuleNotFoundError, ImportError) as err:
            raise CliError(f"unknown environment id {env_id!r}: {err}") from None
        return env_id
    if name not in gym.registry:
        close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; the rdo benchmarks are " + ", ".join(
            rdo_envs.ENV_IDS)
        raise CliError(f"unknown environment id {env_id!r}{hint}")
    return env_id


def parse_objective(spec: str) -> Objective:
    """The objective of a spec string, or a CliError naming the accepted forms."""
    try:
        return make_objective(spec)
    except (ValueError, TypeError) as err:
        raise CliError(str(err)) from None


def parse_hyperparams(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs, values read as YAML (``learning_rate=1e-3``,
    ``policy_kwargs={net_arch: [64, 64]}``), never evaluated as code."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"hyperparameter {item!r} is not of the form key=value")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise CliError(f"hyperparameter {key.strip()!r}: cannot read {value!r} ({err.__class__.__name__})") \
                from None
    return out


@dataclass
class RunConfig:
    """What ``rdo train`` did, saved as ``run.yml`` next to ``model.zip``.

    ``stock_range``: the ``(low, high)`` range initial stocks were sampled on in training (DηN;
    ``None``: the objective's fixed ``c0``); ``stock_scale``: the factor on the stock in the
    observation; ``gamma``: the discount of the stock recursion and of the agent.
    """

    env_id: str
    algo: str
    objective: str
    timesteps: int
    seed: int | None = None
    gamma: float = 1.0
    stock_range: tuple[float, float] | None = None
    stock_integer: bool = False
    stock_scale: float = 1.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    train_seconds: float | None = None

    def save(self, folder: Path) -> Path:
        import yaml

        data = asdict(self)
        data["stock_range"] = None if self.stock_range is None else [float(x) for x in self.stock_range]
        path = Path(folder) / RUN_FILE
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    @classmethod
    def load(cls, folder: Path) -> RunConfig:
        import yaml

        path = Path(folder) / RUN_FILE
        if not path.is_file():
            raise CliError(f"{path} not found: a run folder written by 'rdo train' holds {MODEL_FILE} and {RUN_FILE}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
            config = cls(**data)
        except (TypeError, yaml.YAMLError) as err:
            raise CliError(f"{path} is not a run file of this rdo version: {err}") from None
        if config.stock_range is not None:
            config.stock_range = tuple(config.stock_range)  # type: ignore[assignment]
        return config


def default_gamma(env_id: str, gamma: float | None) -> float:
    """``gamma`` checked, or the benchmark's (1), or 1 (objectives on the undiscounted return)."""
    if gamma is None:
        if is_benchmark(env_id):
            import rdo_envs

            return float(rdo_envs.benchmark_info(env_id).gamma)
        return 1.0
    if not 0.0 < gamma <= 1.0:
        raise CliError(f"--gamma must lie in (0, 1], got {gamma:g}")
    return float(gamma)


def stock_defaults(env_id: str, objective: Objective, stock_range: tuple[float, float] | None,
                   stock_scale: float | None, gamma: float | None) -> tuple[tuple[float, float] | None, bool,
                                                                            float, float]:
    """``(stock_range, integer, stock_scale, gamma)`` for training DηN on ``env_id``.

    A benchmark brings its own training range, scale and gamma; another env samples on
    ``stock_range`` if given, else starts every episode at the objective's fixed ``c0`` (a
    searched ``c0`` — CVaR — needs a range to search in).
    """
    if stock_range is not None and not stock_range[0] <= stock_range[1]:
        raise CliError(f"--stock-range needs LOW <= HIGH, got {stock_range[0]:g} {stock_range[1]:g}")
    if stock_scale is not None and not (math.isfinite(stock_scale) and stock_scale > 0):
        raise CliError(f"--stock-scale must be a finite positive number, got {stock_scale:g}")
    gamma = default_gamma(env_id, gamma)
    if is_benchmark(env_id):
        import rdo_envs

        info = rdo_envs.benchmark_info(env_id)
        if stock_range is None:
            low, high = map(float, info.training_stocks)
            c0 = objective.initial_stock
            if c0 is not None:  # a fixed c0 outside the usual range: train where it is evaluated too
                low, high = min(low, math.floor(c0)), max(high, math.ceil(c0))
            stock_range = (low, high)
        rng = tuple(map(float, stock_range))
        integer = all(float(x).is_integer() for x in rng)
        return rng, integer, info.stock_scale if stock_scale is None else stock_scale, gamma
    if stock_range is None and objective.initial_stock is None:
        raise CliError(f"objective {objective} searches its initial stock: give the range to search and train on "
                       f"with --stock-range LOW HIGH (in units of return, e.g. --stock-range -200 0)")
    integer = stock_range is not None and all(float(x).is_integer() for x in stock_range)
    return (None if stock_range is None else tuple(map(float, stock_range))), integer, \
        1.0 if stock_scale is None else stock_scale, gamma


def make_env(config: RunConfig, *, stock: bool = True, render_mode: str | None = None) -> gym.Env:
    """The env of a run: ``gym.make(env_id, **env_kwargs)``, stock-augmented for DηN.

    A 1-D Box observation gets a flat ``[obs..., scaled stock]`` (``MlpPolicy``), anything else a
    Dict (``MultiInputPolicy``). ``stock=False`` gives the plain env (QR-DQN).
    """
    kwargs = dict(config.env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = make_plain_env(config.env_id, kwargs)
    objective = make_objective(config.objective)
    check_objective_for_env(env, objective)
    if not stock or config.algo != "detan":
        return env
    if config.stock_range is None:
        if objective.initial_stock is None:
            raise CliError(f"run of {config.env_id} has no stock range to search {objective}'s initial stock in")
        initial_stock: Any = objective.initial_stock
    else:
        low, high = config.stock_range
        initial_stock = UniformStock(low, high, integer=config.stock_integer)
    space = env.observation_space
    flatten = isinstance(space, spaces.Box) and len(space.shape) == 1
    return StockAugmentation(env, gamma=config.gamma, initial_stock=initial_stock, flatten=flatten,
                             stock_scale=config.stock_scale)


def make_plain_env(env_id: str, kwargs: dict[str, Any] | None = None) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` with its errors (bad kwargs, missing extras) as CliErrors."""
    try:
        return gym.make(env_id, **(kwargs or {}))
    except Exception as err:  # bad kwargs, missing extras (DependencyNotInstalled)...: the env's own message
        raise CliError(f"cannot make {env_id!r} with {kwargs or {}}: {type(err).__name__}: {err}".splitlines()[0]) \
            from None


def check_objective_for_env(env: gym.Env, objective: Objective) -> None:
    """A benchmark's own objective checks (e.g. the homeostasis initial level), as CliErrors."""
    from rdo_envs.benchmarks import check_objective_for_env as check
    from rdo_envs.gridworld import GridBenchmarkEnv

    if isinstance(env.unwrapped, GridBenchmarkEnv):
        try:
            check(env.unwrapped, objective)
        except ValueError as err:
            raise CliError(str(err)) from None


def default_policy(env: gym.Env) -> str:
    """``MlpPolicy`` for a flat Box observation, ``MultiInputPolicy`` for a Dict one."""
    return "MultiInputPolicy" if isinstance(env.observation_space, spaces.Dict) else "MlpPolicy"


def load_run(path: str | Path) -> tuple[RunConfig, Any]:
    """``(config, model)`` of a run folder (or of the ``model.zip`` inside one)."""
    path = Path(path)
    folder = path.parent if path.suffix == ".zip" else path
    model_path = path if path.suffix == ".zip" else path / MODEL_FILE
    if not folder.exists():
        raise CliError(f"{folder} does not exist: give a run folder written by 'rdo train' (or its {MODEL_FILE})")
    if not model_path.is_file():
        raise CliError(f"no model file {model_path}: give a run folder written by 'rdo train' (or its {MODEL_FILE})")
    config = RunConfig.load(folder)
    check_env_id(config.env_id)
    if config.algo not in ALGOS:
        raise CliError(f"{folder / RUN_FILE}: unknown algo {config.algo!r}; expected one of {ALGOS}")
    if config.algo == "detan":
        from rdo_sb3 import DEtaN as algo_class
    else:
        from sb3_contrib import QRDQN as algo_class
    try:
        model = algo_class.load(model_path, device="cpu")
    except Exception as err:  # a corrupt or foreign zip: SB3 raises many kinds
        raise CliError(f"cannot load {model_path} as {config.algo}: {err}".splitlines()[0]) from None
    env = make_env(config)
    try:
        if env.observation_space != model.observation_space or env.action_space != model.action_space:
            raise CliError(f"{model_path} does not fit {folder / RUN_FILE}: the model's spaces "
                           f"({model.observation_space}, {model.action_space}) differ from {config.env_id}'s "
                           f"({env.observation_space}, {env.action_space})")
    finally:
        env.close()
    return config, model
