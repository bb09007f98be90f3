"""``rdo train``: train DηN (or the QR-DQN peer) on an env for an objective, with the env's preset."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

from rdo_cli.progress import ProgressLines
from rdo_cli.runs import MODEL_FILE, CliError, RunConfig, default_policy, make_env, stock_defaults

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
    """Train and save a run folder; returns ``(config, model, folder)``."""
    from rdo_cli.runs import parse_objective

    obj = parse_objective(objective)
    params = hyperparameters(env_id, algo, overrides or {}, use_preset)
    steps = int(float(timesteps if timesteps is not None else params.pop("n_timesteps")))
    params.pop("n_timesteps", None)
    if steps < 1:
        raise CliError(f"--timesteps must be a positive integer, got {steps}")
    folder = Path(out) if out is not None else default_run_folder(env_id, algo, str(obj), seed)
    if (folder / MODEL_FILE).exists() and not force:
        raise CliError(f"{folder / MODEL_FILE} exists; pass --force to overwrite or choose another --out")
    rng, integer, scale, g = stock_defaults(env_id, obj, stock_range, stock_scale, gamma)
    config = RunConfig(env_id=env_id, algo=algo, objective=str(obj), timesteps=steps, seed=seed, gamma=g,
                       stock_range=rng, stock_integer=integer, stock_scale=scale, env_kwargs=dict(env_kwargs or {}),
                       hyperparams=copy.deepcopy(params))
    env = make_env(config)
    policy = params.pop("policy", None) or default_policy(env)
    try:
        if algo == "detan":
            from rdo_sb3 import DEtaN

            model = DEtaN(policy, env, objective=obj, seed=seed, verbose=verbose, **params)
        else:
            from sb3_contrib import QRDQN

            params.pop("relabel_stocks", None)
            params.setdefault("gamma", g)
            model = QRDQN(policy, env, seed=seed, verbose=verbose, **params)
    except TypeError as err:  # an unknown hyperparameter name
        raise CliError(f"bad hyperparameters for {algo}: {err}") from None
    callback = ProgressLines(steps) if progress else None
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    config.train_seconds = round(time.perf_counter() - start, 1)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    config.save(folder)
    return config, model, folder
