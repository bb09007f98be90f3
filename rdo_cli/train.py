"""``rdo train``: train DηN (or the QR-DQN peer) on an env for an objective, with the env's preset."""

from __future__ import annotations

import copy
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

from gymnasium import spaces

from rdo_cli.progress import ProgressLines
from rdo_cli.runs import MODEL_FILE, CliError, RunConfig, default_gamma, default_policy, make_env, stock_defaults

__all__ = ["hyperparameters", "train", "default_run_folder"]


def hyperparameters(env_id: str, algo: str, overrides: dict[str, Any], use_preset: bool = True) -> dict[str, Any]:
    """The preset of ``algo`` for ``env_id`` (``rdo_sb3/presets/ALGO.yml``) updated with ``overrides``.

    Envs without a preset start from the algorithm's defaults (``n_timesteps`` 100k).
    """
    from rdo_sb3.presets import load_preset, preset_env_ids

    name = env_id.split(":", 1)[-1]
    params: dict[str, Any] = {"n_timesteps": 100_000}
    if use_preset and name in preset_env_ids(algo):
        params = load_preset(name, algo)
    params.update(overrides)
    return params


def default_run_folder(env_id: str, algo: str, objective: str, seed: int | None) -> Path:
    """``runs/<env>-<algo>-<objective>-seed<seed>`` with characters unsafe in paths replaced."""
    name = f"{env_id.split(':', 1)[-1].split('/')[-1]}-{algo}-{objective}-seed{seed if seed is not None else 'none'}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def train(env_id: str, objective: str, *, algo: str = "detan", timesteps: int | None = None,
          seed: int | None = 0, out: Path | None = None, overrides: dict[str, Any] | None = None,
          use_preset: bool = True, stock_range: tuple[float, float] | None = None,
          stock_scale: float | None = None, gamma: float | None = None,
          env_kwargs: dict[str, Any] | None = None, force: bool = False, progress: bool = True,
          verbose: int = 0) -> tuple[RunConfig, Any, Path]:
    """Train and save a run folder; returns ``(config, model, folder)``.

    Progress and the origin of the hyperparameters go to stderr. On Ctrl-C the model trained so
    far is saved (as RL Zoo does) before ``KeyboardInterrupt`` propagates.
    """
    from rdo_cli.runs import parse_objective

    obj = parse_objective(objective)
    if "gamma" in (overrides or {}):
        raise CliError("set the discount with --gamma, not --hyperparams gamma=... (the stock recursion uses it too)")
    params = hyperparameters(env_id, algo, overrides or {}, use_preset)
    steps = _check_steps(timesteps if timesteps is not None else params.pop("n_timesteps"))
    params.pop("n_timesteps", None)
    folder = Path(out) if out is not None else default_run_folder(env_id, algo, str(obj), seed)
    if (folder / MODEL_FILE).exists() and not force:
        raise CliError(f"{folder / MODEL_FILE} exists; pass --force to overwrite or choose another --out")
    if algo == "detan":
        rng, integer, scale, g = stock_defaults(env_id, obj, stock_range, stock_scale, gamma)
    else:  # QR-DQN has no stock; its gamma is the benchmark's (1) unless given
        rng, integer, scale, g = None, False, 1.0, default_gamma(env_id, gamma)
        params["gamma"] = g
        params.pop("relabel_stocks", None)
    config = RunConfig(env_id=env_id, algo=algo, objective=str(obj), timesteps=steps, seed=seed, gamma=g,
                       stock_range=rng, stock_integer=integer, stock_scale=scale, env_kwargs=dict(env_kwargs or {}),
                       hyperparams=copy.deepcopy(params))
    env = make_env(config)
    if not isinstance(env.action_space, spaces.Discrete):
        raise CliError(f"{env_id} has actions {env.action_space}: {algo} needs a Discrete action space "
                       "(it scores each action); discretize the actions or use another agent")
    policy = params.pop("policy", None) or default_policy(env)
    if not isinstance(params.get("policy_kwargs", {}), dict):
        raise CliError("policy_kwargs must be a mapping such as 'policy_kwargs={net_arch: [64, 64]}' "
                       "(code strings like dict(...) are not evaluated)")
    try:
        if algo == "detan":
            from rdo_sb3 import DEtaN

            model = DEtaN(policy, env, objective=obj, seed=seed, verbose=verbose, **params)
        else:
            from sb3_contrib import QRDQN

            model = QRDQN(policy, env, seed=seed, verbose=verbose, **params)
    except (TypeError, ValueError, AssertionError) as err:  # unknown names, bad values
        raise CliError(f"bad hyperparameters for {algo}: {err}".splitlines()[0]) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)  # fail before training, not after
    except OSError as err:
        raise CliError(f"cannot create the run folder {folder}: {err}") from None
    if progress:
        preset = _PRESET_NOTE[(use_preset, env_id.split(":", 1)[-1] in _preset_ids(algo))]
        print(f"[train] {algo} on {env_id} for {obj}, {steps} steps; hyperparameters: {preset.format(algo=algo)}",
              file=sys.stderr)
    callback = ProgressLines(steps) if progress else None
    start = time.perf_counter()
    try:
        model.learn(steps, callback=callback)
    except KeyboardInterrupt:
        config.timesteps = int(model.num_timesteps)
        _save(model, config, folder, start)
        print(f"[train] interrupted: saved the model after {model.num_timesteps} steps to {folder}", file=sys.stderr)
        raise
    _save(model, config, folder, start)
    return config, model, folder


_PRESET_NOTE = {(True, True): "the preset of rdo_sb3/presets/{algo}.yml with your overrides",
                (True, False): "no preset for this env: the algorithm's defaults with your overrides",
                (False, True): "--no-preset: the algorithm's defaults with your overrides",
                (False, False): "--no-preset: the algorithm's defaults with your overrides"}


def _preset_ids(algo: str) -> tuple[str, ...]:
    from rdo_sb3.presets import preset_env_ids

    return preset_env_ids(algo)


def _check_steps(value: Any) -> int:
    try:
        steps = float(value)
    except (TypeError, ValueError):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}") from None
    if not (math.isfinite(steps) and steps >= 1):
        raise CliError(f"--timesteps must be a positive integer, got {value!r}")
    return int(steps)


def _save(model: Any, config: RunConfig, folder: Path, start: float) -> None:
    config.train_seconds = round(time.perf_counter() - start, 1)
    model.save(folder / MODEL_FILE)
    config.save(folder)
