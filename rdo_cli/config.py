"""The configuration of a run: the command-line arguments of ``rdo train``, resolved once.

:func:`resolve_run` checks the env id, parses the objective, looks up the preset, and settles the
discount and the training stocks; the :class:`RunConfig` it returns is complete (every later step
reads it, nothing is parsed again) and is what ``run.yml`` holds (:mod:`rdo_cli.run_folder`).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rdo_cli.errors import CliError
from rdo_gym import Objective, make_objective
from rdo_gym.presets import AGENTS, Preset

__all__ = ["ALGOS", "RunConfig", "TrainingStocks", "resolve_run", "check_env_id", "is_benchmark",
           "parse_objective", "parse_hyperparams"]

#: Agents ``rdo train`` knows: DηN (stock-augmented) and its peer, plain sb3-contrib QR-DQN.
ALGOS = AGENTS
#: The training budget of an env without a preset.
DEFAULT_TIMESTEPS = 100_000


@dataclass(frozen=True)
class TrainingStocks:
    """DηN's initial stocks in training.

    Attributes:
        range: The ``(low, high)`` range they are sampled on (``None``: every episode starts at the
            objective's fixed ``c0``).
        integer: Whether integers are sampled.
        scale: The factor on the stock in the observation.
    """

    range: tuple[float, float] | None
    integer: bool
    scale: float


@dataclass
class RunConfig:
    """Everything a run is: what ``rdo train`` did, saved as ``run.yml`` next to ``model.zip``.

    Attributes:
        env_id: The Gymnasium id.
        algo: ``"detan"`` or ``"qrdqn"``.
        objective: The objective (parsed; a spec string is parsed on construction).
        preset: The agent's gamma, policy and hyperparameters (overrides applied).
        timesteps: The env steps trained (requested, or done when interrupted).
        seed: The model's seed.
        stocks: DηN's training stocks (``None`` for QR-DQN: no stock).
        env_kwargs: ``gym.make`` keyword arguments.
        train_seconds: The training time, once trained.
    """

    env_id: str
    algo: str
    objective: Objective
    preset: Preset
    timesteps: int
    seed: int | None = None
    stocks: TrainingStocks | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    train_seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.objective, Objective):
            self.objective = parse_objective(self.objective)

    @property
    def gamma(self) -> float:
        """The discount of the agent and of the stock recursion (the preset's)."""
        return self.preset.gamma

    @property
    def benchmark(self) -> bool:
        """Whether the env is a registered ``rdo/`` benchmark."""
        return is_benchmark(self.env_id)


def is_benchmark(env_id: str) -> bool:
    """Whether ``env_id`` is a registered ``rdo/`` benchmark (with an exact model and presets).

    Args:
        env_id: A Gymnasium id (``"rdo_envs:"`` prefix allowed).
    """
    import rdo_envs

    return env_id.split(":", 1)[-1] in rdo_envs.ENV_IDS


def check_env_id(env_id: str) -> str:
    """``env_id`` if Gymnasium knows it (after registering the ``rdo/`` benchmarks), else a CliError.

    Args:
        env_id: A Gymnasium id, ``"module:Id"`` allowed.
    """
    import rdo_envs  # (registers rdo/...)

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


def parse_objective(spec: str | Objective) -> Objective:
    """The objective of a spec string, or a CliError naming the accepted forms.

    Args:
        spec: ``"cvar:0.1"``, ``"target:4"``... (an Objective passes through).
    """
    try:
        return make_objective(spec)
    except (ValueError, TypeError) as err:
        raise CliError(str(err)) from None


def parse_hyperparams(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs, values read as YAML (``learning_rate=1e-3``,
    ``policy_kwargs={net_arch: [64, 64]}``), never evaluated as code.

    Args:
        items: The ``key=value`` strings.
    """
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


def _gamma(env_id: str, gamma: float | None) -> float:
    """``gamma`` checked, or the benchmark's (1), or 1 (objectives on the undiscounted return)."""
    if gamma is None:
        if is_benchmark(env_id):
            import rdo_envs

            return float(rdo_envs.benchmark_info(env_id).gamma)
        return 1.0
    if not 0.0 < gamma <= 1.0:
        raise CliError(f"--gamma must lie in (0, 1], got {gamma:g}")
    return float(gamma)


def _training_stocks(env_id: str, objective: Objective, stock_range: tuple[float, float] | None,
                     stock_scale: float | None) -> TrainingStocks:
    """DηN's training stocks on ``env_id``.

    A benchmark brings its own training range and scale (widened to a fixed ``c0`` outside it);
    another env samples on ``stock_range`` if given, else starts every episode at the objective's
    fixed ``c0`` (a searched ``c0`` — CVaR — needs a range to search in).
    """
    if stock_range is not None and not stock_range[0] <= stock_range[1]:
        raise CliError(f"--stock-range needs LOW <= HIGH, got {stock_range[0]:g} {stock_range[1]:g}")
    if stock_scale is not None and not (math.isfinite(stock_scale) and stock_scale > 0):
        raise CliError(f"--stock-scale must be a finite positive number, got {stock_scale:g}")
    if is_benchmark(env_id):
        import rdo_envs

        info = rdo_envs.benchmark_info(env_id)
        if stock_range is None:
            low, high = map(float, info.training_stocks)
            if not objective.searches_initial_stock:  # a fixed c0 outside the usual range: train there too
                c0 = objective.initial_stock
                low, high = min(low, math.floor(c0)), max(high, math.ceil(c0))
            stock_range = (low, high)
        rng = (float(stock_range[0]), float(stock_range[1]))
        return TrainingStocks(rng, all(x.is_integer() for x in rng),
                              info.stock_scale if stock_scale is None else stock_scale)
    if stock_range is None:
        if objective.searches_initial_stock:
            raise CliError(f"objective {objective} searches its initial stock: give the range to search and train "
                           "on with --stock-range LOW HIGH (in units of return, e.g. --stock-range -200 0)")
        return TrainingStocks(None, False, 1.0 if stock_scale is None else stock_scale)
    rng = (float(stock_range[0]), float(stock_range[1]))
    return TrainingStocks(rng, all(x.is_integer() for x in rng), 1.0 if stock_scale is None else stock_scale)


def _check_steps(value: Any) -> int:
    try:
        steps = float(value)
    except (TypeError, ValueError):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}") from None
    if not (math.isfinite(steps) and steps >= 1):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}")
    return int(steps)


def _preset(env_id: str, algo: str, objective: Objective, use_preset: bool) -> tuple[Preset, bool]:
    """The benchmark's preset of ``algo`` (``True``), or the agent's defaults (``False``)."""
    import rdo_envs

    name = env_id.split(":", 1)[-1]
    if use_preset and name in rdo_envs.preset_env_ids(algo):
        return rdo_envs.preset(name, algo), True
    return Preset.defaults(algo, str(objective), env_id=name, n_timesteps=DEFAULT_TIMESTEPS), False


def resolve_run(env_id: str, objective: str | Objective, *, algo: str = "detan", timesteps: float | None = None,
                seed: int | None = 0, overrides: dict[str, Any] | None = None, use_preset: bool = True,
                stock_range: tuple[float, float] | None = None, stock_scale: float | None = None,
                gamma: float | None = None, env_kwargs: dict[str, Any] | None = None) -> tuple[RunConfig, bool]:
    """The complete configuration of a training run, every argument checked once.

    Args:
        env_id: A Gymnasium id.
        objective: The objective (spec or Objective).
        algo: ``"detan"`` or ``"qrdqn"``.
        timesteps: Env steps (default: the preset's, or 1e5).
        seed: The model's seed.
        overrides: Hyperparameters replacing the preset's (``policy`` too; not ``gamma``).
        use_preset: ``False`` starts from the agent's defaults.
        stock_range: DηN's training stocks (default: the benchmark's range, else the fixed ``c0``).
        stock_scale: The factor on the stock in the observation.
        gamma: The discount (default: the benchmark's, else 1).
        env_kwargs: ``gym.make`` keyword arguments.

    Returns:
        ``(config, from_preset)``: the configuration, and whether a benchmark preset was used.
    """
    check_env_id(env_id)
    obj = parse_objective(objective)
    if algo not in ALGOS:
        raise CliError(f"unknown algo {algo!r}; expected one of {ALGOS}")
    overrides = dict(overrides or {})
    if "gamma" in overrides:
        raise CliError("set the discount with --gamma, not --hyperparams gamma=... (the stock recursion uses it too)")
    preset, from_preset = _preset(env_id, algo, obj, use_preset)
    g = _gamma(env_id, gamma)
    stocks = _training_stocks(env_id, obj, stock_range, stock_scale) if algo == "detan" else None
    if algo == "qrdqn":  # no stock: DηN-only settings do not apply
        overrides.pop("relabel_stocks", None)
    steps = _check_steps(timesteps if timesteps is not None else overrides.pop("n_timesteps", preset.n_timesteps))
    overrides.pop("n_timesteps", None)
    try:
        preset = preset.with_overrides(objective=str(obj), gamma=g, n_timesteps=steps, **overrides)
    except ValueError as err:
        raise CliError(str(err)) from None
    config = RunConfig(env_id=env_id, algo=algo, objective=obj, preset=preset, timesteps=steps, seed=seed,
                       stocks=stocks, env_kwargs=dict(env_kwargs or {}))
    return config, from_preset
