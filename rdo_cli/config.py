"""The configuration of a run: the command-line arguments of `rdo train`, resolved once.

[`resolve_run`][rdo_cli.config.resolve_run] checks the env id, parses the objective, looks up the preset, and settles
the discount and the training stocks; the [`RunConfig`][rdo_cli.config.RunConfig] it returns is complete (every later
step reads it, nothing is parsed again) and is what `run.yml` holds ([`rdo_cli.run_folder`][rdo_cli.run_folder]).
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym

from rdo_cli.errors import CliError
from rdo_cli.hyperparams import check_hyperparams, parse_key_values
from rdo_gym import Objective, make_objective
from rdo_gym.presets import AGENTS, STOCK_AGENTS, Preset

__all__ = ["ALGOS", "DEVICES", "RunConfig", "TrainingStocks", "TrainingOptions", "resolve_run", "check_env_id",
           "env_name", "is_benchmark", "parse_objective", "parse_hyperparams", "default_checkpoint_every"]

ALGOS = AGENTS
"""Agents `rdo train` knows: DηN (stock-augmented) and its peer, plain sb3-contrib QR-DQN."""
DEFAULT_TIMESTEPS = 100_000
"""The training budget of an env without a preset."""
DEVICES = ("cpu", "cuda", "auto")
"""`--device` choices (SB3's names)."""
STATUSES = ("running", "finished", "interrupted", "failed")
"""Run statuses in `run.yml`."""


@dataclass(frozen=True)
class TrainingStocks:
    """DηN's initial stocks in training.

    Attributes:
        range: The `(low, high)` range they are sampled on (`None`: every episode starts at the
            objective's fixed `c0`, or, with `auto`, the range is not estimated yet).
        integer: Whether integers are sampled.
        scale: The factor on the stock in the observation.
        auto: The range is estimated from the returns during training
            ([`rdo_sb3.stock_range.AutoStockRange`][rdo_sb3.stock_range.AutoStockRange]); `range` and `scale` are
            then the estimate, once made.
        auto_scale: With `auto`, the scale is estimated too (no `--stock-scale` given).
        representation: How the observation carries the stock, `"raw"` or `"discounted"`
            ([`rdo_gym.StockAugmentation`][rdo_gym.stock.StockAugmentation]); `None`: the wrapper's default for
            the discount.
        estimate: With `auto`, the estimate as recorded in `run.yml` (returns seen, episodes, widenings).
    """

    range: tuple[float, float] | None
    integer: bool
    scale: float
    auto: bool = False
    auto_scale: bool = False
    representation: str | None = None
    estimate: dict[str, Any] | None = None


def default_checkpoint_every(timesteps: int) -> int:
    """The default `--checkpoint-every`: every 10% of the run, at most every 10k steps.

    Args:
        timesteps: The run's total steps.
    """
    return max(1, min(10_000, math.ceil(timesteps / 10)))


@dataclass
class TrainingOptions:
    """How `rdo train` trains and what it records (saved in `run.yml`; `--resume` reuses it).

    Attributes:
        n_envs: Training envs stepped together (SB3's `DummyVecEnv`).
        device: torch device: `cpu` (the default: fastest for these small networks), `cuda`
            or `auto`.
        checkpoint_every: Steps between checkpoints of the run folder (0: only at the end, on an
            error and on SIGINT/SIGTERM; `None`: [`default_checkpoint_every`][rdo_cli.config.default_checkpoint_every]).
        save_replay_buffer: Checkpoints include the replay buffer (`replay_buffer.pkl`).
        eval_freq: Steps between objective evaluations during training (0: none).
        eval_episodes: Episodes of each of those evaluations.
        tensorboard_log: A TensorBoard log folder (`None`: no TensorBoard).
    """

    n_envs: int = 1
    device: str = "cpu"
    checkpoint_every: int | None = None
    save_replay_buffer: bool = False
    eval_freq: int = 0
    eval_episodes: int = 100
    tensorboard_log: str | None = None


@dataclass
class RunConfig:
    """Everything a run is: what `rdo train` did, saved as `run.yml` next to `model.zip`.

    Attributes:
        env_id: The Gymnasium id.
        algo: `"detan"`, `"qrdqn"`, `"detatqc"` or `"tqc"` (`ALGOS`).
        objective: The objective (parsed; a spec string is parsed on construction).
        preset: The agent's gamma, policy and hyperparameters (overrides applied).
        timesteps: The env steps trained (requested, or done when interrupted).
        seed: The model's seed.
        stocks: The stock agent's training stocks (`None` for QR-DQN and TQC: no stock).
        env_kwargs: `gym.make` keyword arguments.
        train_seconds: The training time, once trained.
        training: How it trains (envs, device, checkpoints, evaluations, logs).
        steps_done: The env steps trained so far.
        status: `running`, `finished`, `interrupted` or `failed`.
        error: The error line of a failed run.
        commands: The command lines that trained it (the first, then each `--resume`).
        versions: Python's and the packages' versions it was trained with.
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
    training: TrainingOptions = field(default_factory=TrainingOptions)
    steps_done: int = 0
    status: str = "running"
    error: str | None = None
    commands: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.objective, Objective):
            self.objective = parse_objective(self.objective)

    @property
    def gamma(self) -> float:
        """The discount of the agent and of the stock recursion (the preset's)."""
        return self.preset.gamma

    @property
    def benchmark(self) -> bool:
        """Whether the env is a registered `rdo/` benchmark."""
        return is_benchmark(self.env_id)


def is_benchmark(env_id: str) -> bool:
    """Whether `env_id` is a registered `rdo/` benchmark (with an exact model and presets): a grid benchmark of
    `rdo_envs.ENV_IDS` or a wealth benchmark of `rdo_envs.WEALTH_ENV_IDS`.

    Args:
        env_id: A Gymnasium id (`"rdo_envs:"` prefix allowed).
    """
    import rdo_envs

    return env_name(env_id) in rdo_envs.ENV_IDS + rdo_envs.WEALTH_ENV_IDS


def env_name(env_id: str) -> str:
    """The registered id of `env_id` (`"mypkg:MyEnv-v0"` -> `"MyEnv-v0"`).

    Args:
        env_id: A Gymnasium id, `"module:Id"` allowed.
    """
    return env_id.split(":", 1)[-1]


def _import_env_module(env_id: str) -> None:
    """Import the module part of a `"module:Id"` id (it registers the env), or a CliError."""
    module = env_id.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise CliError(f"unknown environment id {env_id!r}: cannot import module {module!r} ({err}); install it "
                       "or put it on PYTHONPATH") from None
    except Exception as err:  # the module itself fails on import
        raise CliError(f"unknown environment id {env_id!r}: importing module {module!r} failed: "
                       f"{type(err).__name__}: {err}") from None


def check_env_id(env_id: str) -> str:
    """`env_id` if Gymnasium knows it (after registering the `rdo/` benchmarks), else a CliError.

    Args:
        env_id: A Gymnasium id, `"module:Id"` allowed.
    """
    import rdo_envs  # (registers rdo/...)

    name = env_name(env_id)
    if ":" in env_id:  # "module:Id": the module registers the env (gym.spec does not import it)
        _import_env_module(env_id)
    if name.startswith("ALE/"):  # Gymnasium 1.x registers the Atari ids only once ale_py is imported
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:
            raise CliError(f"{env_id} needs the Atari envs: pip install ale-py") from None
    if name not in gym.registry:
        close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; the rdo benchmarks are " + ", ".join(
            rdo_envs.ENV_IDS)
        raise CliError(f"unknown environment id {env_id!r}{hint}")
    return env_id


def parse_objective(spec: str | Objective) -> Objective:
    """The objective of a spec string, or a CliError naming the accepted forms.

    Args:
        spec: `"cvar:0.1"`, `"target:4"`... (an Objective passes through).
    """
    try:
        return make_objective(spec)
    except (ValueError, TypeError) as err:
        raise CliError(str(err)) from None


def parse_hyperparams(items: list[str] | None, option: str = "--hyperparams") -> dict[str, Any]:
    """`key=value` pairs, values read as YAML
    ([`rdo_cli.hyperparams.parse_key_values`][rdo_cli.hyperparams.parse_key_values]).

    Args:
        items: The `key=value` strings.
        option: The option they come from, for the messages.
    """
    return parse_key_values(items, option)


def _gamma(env_id: str, gamma: float | None) -> float:
    """`gamma` checked, or the benchmark's (1), or 1 (objectives on the undiscounted return)."""
    if gamma is None:
        if is_benchmark(env_id):
            import rdo_envs

            return float(rdo_envs.benchmark_info(env_name(env_id)).gamma)
        return 1.0
    if not 0.0 < gamma <= 1.0:
        raise CliError(f"--gamma must lie in (0, 1], got {gamma:g}")
    return float(gamma)


def _training_stocks(env_id: str, objective: Objective, stock_range: tuple[float, float] | None,
                     stock_scale: float | None, representation: str | None = None) -> TrainingStocks:
    """DηN's training stocks on `env_id`.

    A benchmark brings its own training range and scale (widened to a fixed `c0` outside it);
    another env samples on `stock_range` if given, else starts every episode at the objective's
    fixed `c0`; a searched `c0` (CVaR) without `stock_range` gets the automatic range
    ([`rdo_sb3.stock_range.AutoStockRange`][rdo_sb3.stock_range.AutoStockRange]: estimated from the returns of the
    warm-up, widened during training), and the automatic scale too unless `stock_scale` is given.
    """
    from rdo_gym.stock import REPRESENTATIONS

    if representation is not None and representation not in REPRESENTATIONS:
        raise CliError(f"--stock-representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    if representation not in (None, "raw") and is_benchmark(env_id):
        raise CliError(f"--stock-representation {representation}: the rdo/ benchmarks present the raw stock (their "
                       "discount is 1, where both representations carry the same stock)")
    if stock_range is not None and not all(math.isfinite(x) for x in stock_range):
        raise CliError(f"--stock-range needs two finite numbers LOW HIGH, got {stock_range[0]:g} {stock_range[1]:g}")
    if stock_range is not None and not stock_range[0] <= stock_range[1]:
        raise CliError(f"--stock-range needs LOW <= HIGH, got {stock_range[0]:g} {stock_range[1]:g}")
    if stock_scale is not None and not (math.isfinite(stock_scale) and stock_scale > 0):
        raise CliError(f"--stock-scale must be a finite positive number, got {stock_scale:g}")
    if is_benchmark(env_id):
        import rdo_envs

        info = rdo_envs.benchmark_info(env_name(env_id))
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
        if objective.searches_initial_stock:  # the range (and the scale) estimated from the returns
            return TrainingStocks(None, False, 1.0 if stock_scale is None else stock_scale, auto=True,
                                  auto_scale=stock_scale is None, representation=representation)
        return TrainingStocks(None, False, 1.0 if stock_scale is None else stock_scale, representation=representation)
    rng = (float(stock_range[0]), float(stock_range[1]))
    return TrainingStocks(rng, all(x.is_integer() for x in rng), 1.0 if stock_scale is None else stock_scale,
                          representation=representation)


def _check_steps(value: Any) -> int:
    try:
        steps = float(value)
    except (TypeError, ValueError):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}") from None
    if not (math.isfinite(steps) and steps >= 1 and steps.is_integer()):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}")
    return int(steps)


def _check_training(options: TrainingOptions | None, timesteps: int) -> TrainingOptions:
    """The training options checked, `checkpoint_every` defaulted from `timesteps`."""
    options = options or TrainingOptions()
    if options.checkpoint_every is None:
        options = replace(options, checkpoint_every=default_checkpoint_every(timesteps))
    if options.device not in DEVICES:
        raise CliError(f"--device must be one of {', '.join(DEVICES)}, got {options.device!r}")
    if options.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CliError("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False); "
                           "use --device cpu")
    for name, low in (("n_envs", 1), ("checkpoint_every", 0), ("eval_freq", 0), ("eval_episodes", 2)):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise CliError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
    return options


def _preset(env_id: str, algo: str, objective: Objective, use_preset: bool) -> tuple[Preset, bool]:
    """The benchmark's preset of `algo` (`True`), or the agent's defaults (`False`)."""
    import rdo_envs

    name = env_name(env_id)
    if use_preset and name in rdo_envs.preset_env_ids(algo):
        return rdo_envs.preset(name, algo), True
    return Preset.defaults(algo, str(objective), env_id=name, n_timesteps=DEFAULT_TIMESTEPS), False


def resolve_run(env_id: str, objective: str | Objective, *, algo: str = "detan", timesteps: float | None = None,
                seed: int | None = 0, overrides: dict[str, Any] | None = None, use_preset: bool = True,
                stock_range: tuple[float, float] | None = None, stock_scale: float | None = None,
                stock_representation: str | None = None, gamma: float | None = None,
                env_kwargs: dict[str, Any] | None = None,
                training: TrainingOptions | None = None) -> tuple[RunConfig, bool]:
    """The complete configuration of a training run, every argument checked once.

    Args:
        env_id: A Gymnasium id.
        objective: The objective (spec or Objective).
        algo: `"detan"`, `"qrdqn"`, `"detatqc"` or `"tqc"`.
        timesteps: Env steps (default: the preset's, or 1e5).
        seed: The model's seed.
        overrides: Hyperparameters replacing the preset's (`policy` too; not `gamma`).
        use_preset: `False` starts from the agent's defaults.
        stock_range: DηN's training stocks (default: the benchmark's range, else the fixed `c0`, or for a
            searched `c0` the automatic range).
        stock_scale: The factor on the stock in the observation.
        stock_representation: `"raw"` or `"discounted"` (default: the stock wrapper's for the discount).
        gamma: The discount (default: the benchmark's, else 1).
        env_kwargs: `gym.make` keyword arguments.
        training: How it trains (default: one env on the CPU, checkpoints every 10% / 10k steps).

    Returns:
        `(config, from_preset)`: the configuration, and whether a benchmark preset was used.
    """
    check_env_id(env_id)
    obj = parse_objective(objective)
    if algo not in ALGOS:
        raise CliError(f"unknown algo {algo!r}; expected one of {ALGOS}")
    overrides = check_hyperparams(overrides or {})
    if "gamma" in overrides:
        raise CliError("set the discount with --gamma, not --hyperparams gamma=... (the stock recursion uses it too)")
    preset, from_preset = _preset(env_id, algo, obj, use_preset)
    g = _gamma(env_id, gamma)
    stocks = (_training_stocks(env_id, obj, stock_range, stock_scale, stock_representation)
              if algo in STOCK_AGENTS else None)
    if algo not in STOCK_AGENTS:  # no stock: the stock agents' settings do not apply
        overrides.pop("relabel_stocks", None)
    steps = _check_steps(timesteps if timesteps is not None else overrides.pop("n_timesteps", preset.n_timesteps))
    overrides.pop("n_timesteps", None)
    options = _check_training(training, steps)
    if "device" in overrides:
        raise CliError("set the device with --device, not --hyperparams device=...")
    try:
        preset = preset.with_overrides(objective=str(obj), gamma=g, n_timesteps=steps, **overrides)
    except ValueError as err:
        raise CliError(str(err)) from None
    config = RunConfig(env_id=env_id, algo=algo, objective=obj, preset=preset, timesteps=steps, seed=seed,
                       stocks=stocks, env_kwargs=dict(env_kwargs or {}), training=options)
    return config, from_preset
