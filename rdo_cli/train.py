"""``rdo train``: train DηN (or the QR-DQN peer) on an env for an objective, with the env's preset."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from gymnasium import spaces

from rdo_cli.config import RunConfig, resolve_run
from rdo_cli.envs import make_env
from rdo_cli.errors import CliError
from rdo_cli.progress import ProgressLines
from rdo_cli.run_folder import MODEL_FILE, default_run_folder, save_run

__all__ = ["train", "train_config"]


def train(env_id: str, objective: str, *, algo: str = "detan", timesteps: float | None = None,
          seed: int | None = 0, out: Path | None = None, overrides: dict[str, Any] | None = None,
          use_preset: bool = True, stock_range: tuple[float, float] | None = None,
          stock_scale: float | None = None, gamma: float | None = None,
          env_kwargs: dict[str, Any] | None = None, force: bool = False, progress: bool = True,
          verbose: int = 0) -> tuple[RunConfig, Any, Path]:
    """Resolve the arguments (:func:`~rdo_cli.config.resolve_run`), train and save a run folder.

    Args:
        env_id: A Gymnasium id.
        objective: The objective spec.
        algo: ``"detan"`` or ``"qrdqn"``.
        timesteps: Env steps (default: the preset's, or 1e5).
        seed: The model's seed.
        out: The run folder (default ``runs/ENV-ALGO-OBJECTIVE-seedSEED``).
        overrides: Hyperparameters replacing the preset's.
        use_preset: ``False`` starts from the agent's defaults.
        stock_range: DηN's training stocks.
        stock_scale: The factor on the stock in the observation.
        gamma: The discount.
        env_kwargs: ``gym.make`` keyword arguments.
        force: Overwrite an existing run folder.
        progress: Print progress lines to stderr.
        verbose: SB3's verbosity.

    Returns:
        ``(config, model, folder)``.
    """
    config, from_preset = resolve_run(env_id, objective, algo=algo, timesteps=timesteps, seed=seed,
                                      overrides=overrides, use_preset=use_preset, stock_range=stock_range,
                                      stock_scale=stock_scale, gamma=gamma, env_kwargs=env_kwargs)
    folder = Path(out) if out is not None else default_run_folder(env_id, algo, str(config.objective), seed)
    if (folder / MODEL_FILE).exists() and not force:
        raise CliError(f"{folder / MODEL_FILE} exists; pass --force to overwrite or choose another --out")
    model = train_config(config, folder, note=_preset_note(use_preset, from_preset, algo), progress=progress,
                         verbose=verbose)
    return config, model, folder


def train_config(config: RunConfig, folder: Path, *, note: str = "", progress: bool = True, verbose: int = 0) -> Any:
    """Build the env and model of ``config`` (:func:`rdo_sb3.make_model`), train, save to ``folder``.

    Progress and the origin of the hyperparameters go to stderr. On Ctrl-C the model trained so
    far is saved (as RL Zoo does) before ``KeyboardInterrupt`` propagates.

    Args:
        config: The run's configuration (``timesteps`` is updated when interrupted).
        folder: The run folder (created).
        note: Where the hyperparameters come from, for the progress line.
        progress: Print progress lines to stderr.
        verbose: SB3's verbosity.

    Returns:
        The trained model.
    """
    from rdo_sb3 import make_model

    env = make_env(config)
    if not isinstance(env.action_space, spaces.Discrete):
        raise CliError(f"{config.env_id} has actions {env.action_space}: {config.algo} needs a Discrete action space "
                       "(it scores each action); discretize the actions or use another agent")
    try:
        model = make_model(config.preset, env, objective=config.objective, seed=config.seed, verbose=verbose)
    except (TypeError, ValueError, AssertionError) as err:  # unknown names, bad values
        raise CliError(f"bad hyperparameters for {config.algo}: {err}".splitlines()[0]) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)  # fail before training, not after
    except OSError as err:
        raise CliError(f"cannot create the run folder {folder}: {err}") from None
    if progress:
        print(f"[train] {config.algo} on {config.env_id} for {config.objective}, {config.timesteps} steps; "
              f"hyperparameters: {note or 'as given'}", file=sys.stderr)
    callback = ProgressLines(config.timesteps) if progress else None
    start = time.perf_counter()
    try:
        model.learn(config.timesteps, callback=callback)
    except KeyboardInterrupt:
        config.timesteps = int(model.num_timesteps)
        _save(model, config, folder, start)
        print(f"[train] interrupted: saved the model after {model.num_timesteps} steps to {folder}", file=sys.stderr)
        raise
    _save(model, config, folder, start)
    return model


def _preset_note(use_preset: bool, from_preset: bool, algo: str) -> str:
    if not use_preset:
        return "--no-preset: the algorithm's defaults with your overrides"
    if from_preset:
        return f"the preset of rdo_envs/presets/{algo}.yml with your overrides"
    return "no preset for this env: the algorithm's defaults with your overrides"


def _save(model: Any, config: RunConfig, folder: Path, start: float) -> None:
    config.train_seconds = round(time.perf_counter() - start, 1)
    save_run(config, model, folder)
