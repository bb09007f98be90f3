"""`rdo train`: train DηN (or the QR-DQN peer) on an env for an objective, with the env's preset.

The run folder is saved at the end, every `--checkpoint-every` steps, when training fails
(status `failed` with the error line) and on SIGTERM/SIGINT (status `interrupted`);
[`resume`][rdo_cli.train.resume] continues a saved run to its total steps
([`rdo_cli.checkpoints`][rdo_cli.checkpoints]).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from rdo_cli.checkpoints import Checkpoints, StopOnSignal, load_for_resume
from rdo_cli.config import RunConfig, TrainingOptions, check_env_id, resolve_run
from rdo_cli.envs import make_env, tabular_model, unreachable_warning
from rdo_cli.errors import CliError, Interrupted
from rdo_cli.formatting import one_line
from rdo_cli.progress import LogStream, ProgressLines
from rdo_cli.provenance import package_versions
from rdo_cli.run_folder import MODEL_FILE, RUN_FILE, default_run_folder, load_config, save_run
from rdo_gym.presets import CONTINUOUS_AGENTS

__all__ = ["train", "resume", "train_config", "LOG_FILE", "PROGRESS_FILE"]

LOG_FILE = "train.log"
"""The lines `rdo train` printed (progress, evaluations, warnings), appended by each session."""
PROGRESS_FILE = "progress.csv"
"""SB3's logger CSV (losses, exploration rate, episode statistics...)."""


def train(env_id: str, objective: str, *, algo: str = "detan", timesteps: float | None = None,
          seed: int | None = 0, out: Path | None = None, overrides: dict[str, Any] | None = None,
          use_preset: bool = True, stock_range: tuple[float, float] | None = None,
          stock_scale: float | None = None, stock_representation: str | None = None, gamma: float | None = None,
          env_kwargs: dict[str, Any] | None = None, training: TrainingOptions | None = None,
          command: str | None = None, force: bool = False, progress: bool = True,
          verbose: int = 0) -> tuple[RunConfig, Any, Path]:
    """Resolve the arguments ([`resolve_run`][rdo_cli.config.resolve_run]), train and save a run folder.

    Args:
        env_id: A Gymnasium id.
        objective: The objective spec.
        algo: `"detan"`, `"qrdqn"`, `"detatqc"` or `"tqc"`.
        timesteps: Env steps (default: the preset's, or 1e5).
        seed: The model's seed.
        out: The run folder (default `runs/ENV-ALGO-OBJECTIVE-seedSEED`).
        overrides: Hyperparameters replacing the preset's.
        use_preset: `False` starts from the agent's defaults.
        stock_range: DηN's training stocks.
        stock_scale: The factor on the stock in the observation.
        stock_representation: `"raw"` or `"discounted"` (default: the stock wrapper's for the discount).
        gamma: The discount.
        env_kwargs: `gym.make` keyword arguments.
        training: Envs, device, checkpoints, evaluations, TensorBoard (default: one env on the
            CPU, a checkpoint every 10% of the run or 10k steps).
        command: The command line, recorded in `run.yml`.
        force: Overwrite an existing run folder.
        progress: Print progress lines to stderr.
        verbose: SB3's verbosity.

    Returns:
        `(config, model, folder)`.
    """
    config, from_preset = resolve_run(env_id, objective, algo=algo, timesteps=timesteps, seed=seed,
                                      overrides=overrides, use_preset=use_preset, stock_range=stock_range,
                                      stock_scale=stock_scale, stock_representation=stock_representation,
                                      gamma=gamma, env_kwargs=env_kwargs,
                                      training=training)
    folder = Path(out) if out is not None else default_run_folder(env_id, algo, str(config.objective), seed)
    for name in (MODEL_FILE, RUN_FILE):
        if (folder / name).exists() and not force:
            raise CliError(f"{folder / name} exists; pass --force to overwrite, --resume {folder} to continue it, "
                           "or choose another --out")
    if command:
        config.commands = [command]
    preset_file = any(w == "--preset" or w.startswith("--preset=") for w in (command or "").split())
    model = train_config(config, folder, note=("--preset FILE: the file's entry with your overrides" if preset_file
                                               else _preset_note(use_preset, from_preset, algo)), progress=progress,
                         verbose=verbose)
    return config, model, folder


def resume(folder: Path, *, timesteps: int | None = None, command: str | None = None, progress: bool = True,
           verbose: int = 0) -> tuple[RunConfig, Any, Path]:
    """Continue the run saved in `folder` to its total steps (`run.yml`'s, or `timesteps`).

    Args:
        folder: A run folder written by `rdo train` (finished, interrupted or failed).
        timesteps: A new total (more than the steps done).
        command: The command line, appended to `run.yml`'s.
        progress: Print progress lines to stderr.
        verbose: SB3's verbosity.

    Returns:
        `(config, model, folder)`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CliError(f"--resume {folder}: no such run folder")
    config = load_config(folder)
    if not (folder / MODEL_FILE).is_file():
        raise CliError(f"--resume {folder}: no {MODEL_FILE} (the run stopped before its first checkpoint); start it "
                       "again without --resume")
    check_env_id(config.env_id)
    if timesteps is not None:
        if timesteps <= config.steps_done:
            raise CliError(f"-n/--timesteps {timesteps} is the new total of the run: give more than the "
                           f"{config.steps_done} steps {folder} has already trained")
        config.timesteps = int(timesteps)
    if config.steps_done >= config.timesteps:
        raise CliError(f"--resume {folder}: the run has already trained {config.steps_done} of its "
                       f"{config.timesteps} steps (status {config.status}); pass -n TOTAL with a larger total to "
                       "train it further")
    if command:
        config.commands.append(command)
    model = train_config(config, folder, note=f"resumed from {folder / RUN_FILE}", progress=progress,
                         verbose=verbose, resuming=True)
    return config, model, folder


def _training_env(config: RunConfig, folder: Path, append: bool) -> Any:
    """The training env: the run's env in SB3's `Monitor` (episode CSV in the run folder),
    several of them in a `DummyVecEnv` for `n_envs > 1`."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    n = config.training.n_envs

    def build(i: int) -> Any:
        name = "monitor.csv" if n == 1 else f"{i}.monitor.csv"
        return Monitor(make_env(config), filename=str(folder / name), override_existing=not append)

    if n == 1:
        return build(0)
    envs = [build(i) for i in range(n)]
    return DummyVecEnv([lambda env=env: env for env in envs])


def _logger(config: RunConfig, folder: Path, resuming: bool) -> Any:
    """SB3's logger: `progress.csv` in the run folder (and TensorBoard under `--tensorboard-log`)."""
    from stable_baselines3.common.logger import Logger, make_output_format

    progress = folder / PROGRESS_FILE
    if resuming and progress.exists():  # SB3 rewrites the file: keep the earlier session's under its end step
        progress.replace(folder / f"progress-{config.steps_done}.csv")
    formats = [make_output_format("csv", str(folder))]
    if config.training.tensorboard_log:
        try:
            formats.append(make_output_format("tensorboard", str(Path(config.training.tensorboard_log) / folder.name)))
        except (ImportError, AssertionError) as err:
            raise CliError(one_line(f"--tensorboard-log needs the tensorboard package (pip install tensorboard): "
                                    f"{err}")) from None
    return Logger(folder=str(folder), output_formats=formats)


def _build_model(config: RunConfig, env: Any, folder: Path, resuming: bool, verbose: int) -> Any:
    from rdo_sb3 import make_model

    if resuming:
        return load_for_resume(config, folder, env)
    extra: dict[str, Any] = {}
    if config.stocks is not None and config.stocks.auto:
        from rdo_sb3.stock_range import AutoStockRange

        extra["stock_range"] = AutoStockRange(set_scale=config.stocks.auto_scale)
    try:
        return make_model(config.preset, env, objective=config.objective, seed=config.seed, verbose=verbose,
                          device=config.training.device, **extra)
    except (TypeError, ValueError, AssertionError) as err:  # unknown names, bad values
        raise CliError(f"bad hyperparameters for {config.algo}: {err}".splitlines()[0]) from None


def _sync_stocks(config: RunConfig, model: Any) -> None:
    """Record in `config.stocks` what the model settled: the representation, and an automatic range's estimate
    (the range, the scale and what they came from), so that `run.yml` rebuilds the very env."""
    stocks, layout = config.stocks, getattr(model, "stock_layout", None)
    if stocks is None or layout is None:
        return
    stocks = replace(stocks, representation=layout.representation)
    auto = getattr(model, "auto_stock_range", None)
    if stocks.auto and auto is not None and auto.ready:
        rng = model.stock_range
        estimate = {k: v for k, v in auto.as_dict(model.objective).items()
                    if k not in ("initial_stocks", "stock_scale")}
        stocks = replace(stocks, range=(rng.low, rng.high), integer=False, scale=float(layout.scale), auto_scale=False,
                         estimate={**estimate, "scale_estimated": auto.stock_scale is not None})
    config.stocks = stocks


class _StockRangeLines(BaseCallback):
    """Log lines for an automatic stock range: the estimate after the warm-up, and each widening."""

    def __init__(self, line: Any):
        super().__init__()
        self._line = line
        self._widenings = -1

    def _report(self) -> None:
        auto = getattr(self.model, "auto_stock_range", None)
        if auto is None or not auto.ready or auto.widenings == self._widenings:
            return
        what = "widened" if self._widenings >= 0 else "estimated"
        step = self.model.num_timesteps if self._widenings >= 0 or auto.estimated_at is None else auto.estimated_at
        self._widenings = auto.widenings
        self._line(f"[train] {auto.describe(self.model.objective)} ({what} at step {step})")

    def _on_training_start(self) -> None:
        self._report()

    def _on_step(self) -> bool:
        self._report()
        return True


def _check_actions(config: RunConfig, env: Any) -> None:
    """Refuse (and close) an env whose actions the agent cannot take, naming the agent that can."""
    if config.algo in CONTINUOUS_AGENTS:
        if isinstance(env.action_space, spaces.Box):
            return
        other = "--algo detan (or qrdqn)" if isinstance(env.action_space, spaces.Discrete) else "another agent"
        need = "a Box action space (continuous actions)"
    else:
        if isinstance(env.action_space, spaces.Discrete):
            return
        other = ("--algo detatqc (or tqc)" if isinstance(env.action_space, spaces.Box)
                 else "discretize the actions, or use another agent")
        need = "a Discrete action space (it scores each action)"
    env.close()
    raise CliError(f"{config.env_id} has actions {env.action_space}: {config.algo} needs {need}; use {other}")


def _warn_unreachable(config: RunConfig, env: Any, log: LogStream) -> None:
    try:
        base = env.envs[0] if hasattr(env, "envs") else env
        warning = unreachable_warning(config.objective, tabular_model(base))
    except Exception:  # the check is a courtesy: no model, no warning
        warning = None
    if warning:
        log.line(f"rdo: warning: {warning}")


def train_config(config: RunConfig, folder: Path, *, note: str = "", progress: bool = True, verbose: int = 0,
                 resuming: bool = False) -> Any:
    """Build the env and model of `config` ([`rdo_sb3.make_model`][rdo_sb3.factory.make_model], or the saved model when
    `resuming`), train to `config.timesteps` and save to `folder`.

    Progress and the origin of the hyperparameters go to stderr and to `train.log`. The run is
    saved every `config.training.checkpoint_every` steps, at the end, when training raises
    (status `failed`; a CliError follows) and on SIGTERM/SIGINT (status `interrupted`;
    [`Interrupted`][rdo_cli.errors.Interrupted] follows; a Ctrl-C raised inside training saves too and
    re-raises `KeyboardInterrupt`).

    Args:
        config: The run's configuration (`steps_done`, `status` and `train_seconds` are updated).
        folder: The run folder (created).
        note: Where the hyperparameters come from, for the progress line.
        progress: Print progress lines to stderr.
        verbose: SB3's verbosity.
        resuming: Continue the model saved in `folder`.

    Returns:
        The trained model.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)  # fail before training, not after
    except OSError as err:
        raise CliError(f"cannot create the run folder {folder}: {err}") from None
    log = LogStream(folder / LOG_FILE, sys.stderr if progress else None)
    warnings = LogStream(folder / LOG_FILE, sys.stderr)
    env = _training_env(config, folder, append=resuming)
    _check_actions(config, env)
    if not resuming:
        _warn_unreachable(config, env, warnings)
    try:
        model = _build_model(config, env, folder, resuming, verbose)
    except BaseException:
        env.close()
        raise
    model.set_logger(_logger(config, folder, resuming))
    config.versions = package_versions()
    done_before = int(model.num_timesteps)
    seconds_before = float(config.train_seconds or 0.0) if resuming else 0.0
    start = time.perf_counter()

    def save(status: str, error: str | None = None) -> None:
        config.status, config.error = status, error
        _sync_stocks(config, model)
        config.train_seconds = round(seconds_before + time.perf_counter() - start, 1)
        save_run(config, model, folder, replay_buffer=config.training.save_replay_buffer)

    log.line(f"[train] {config.algo} on {config.env_id} for {config.objective}, {config.timesteps} steps"
             f"{f' from step {done_before}' if resuming else ''}; hyperparameters: {note or 'as given'}")
    callbacks = [ProgressLines(config.timesteps, stream=log, start=done_before),
                 Checkpoints(config.training.checkpoint_every, lambda: save("running")), _StockRangeLines(log.line)]
    if config.training.eval_freq > 0:
        from rdo_cli.periodic_eval import ObjectiveEvaluations

        to_stdout = LogStream(folder / LOG_FILE, sys.stdout if progress else None)
        callbacks.append(ObjectiveEvaluations(config, config.training.eval_freq, config.training.eval_episodes,
                                              folder, to_stdout.line))
    with StopOnSignal() as guard:
        callbacks.append(guard)
        try:
            model.learn(config.timesteps - done_before, callback=callbacks, reset_num_timesteps=not resuming,
                        tb_log_name=folder.name)
        except KeyboardInterrupt:
            save("interrupted")
            log.line(f"[train] interrupted: saved the run after {model.num_timesteps} steps to {folder}")
            raise
        except CliError:
            save("failed", "stopped by an error of the command line")
            raise
        except Exception as err:
            line = one_line(f"{type(err).__name__}: {err}")
            save("failed", line)
            log.line(f"[train] failed after {model.num_timesteps} steps: {line}")
            raise CliError(f"training failed after {model.num_timesteps} of {config.timesteps} steps: {line} "
                           f"(the run so far is saved in {folder}: fix the cause, then rdo train --resume "
                           f"{folder})") from err
        finally:
            env.close()
    if guard.signum is not None:
        save("interrupted")
        raise Interrupted(guard.signum, f"saved the run after {model.num_timesteps} of {config.timesteps} steps "
                          f"to {folder}; continue with: rdo train --resume {folder}")
    save("finished")
    return model


def _preset_note(use_preset: bool, from_preset: bool, algo: str) -> str:
    if not use_preset:
        return "--no-preset: the algorithm's defaults with your overrides"
    if from_preset:
        return f"the preset of rdo_envs/presets/{algo}.yml with your overrides"
    return "no preset for this env: the algorithm's defaults with your overrides"
