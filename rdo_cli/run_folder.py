"""Run folders: ``model.zip`` (SB3's format) and ``run.yml`` (the :class:`~rdo_cli.config.RunConfig`).

``rdo train`` writes one (:func:`save_run`); ``rdo evaluate`` and ``rdo plot`` read it back
(:func:`load_run`) with the env rebuilt once from the configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from rdo_cli.config import ALGOS, RunConfig, TrainingStocks, check_env_id
from rdo_cli.envs import make_env
from rdo_cli.errors import CliError
from rdo_gym.presets import Preset

__all__ = ["MODEL_FILE", "RUN_FILE", "Run", "save_run", "load_config", "load_run", "default_run_folder"]

MODEL_FILE = "model.zip"
RUN_FILE = "run.yml"
_PRESET_ONLY = ("policy", "gamma")  # in run.yml's hyperparams, fields of the preset


@dataclass
class Run:
    """A loaded run: its configuration, its model and its env (built once, :meth:`close` it).

    Attributes:
        config: The run's configuration.
        model: The trained SB3 model.
        env: The run's env (stock-augmented for DηN).
    """

    config: RunConfig
    model: Any
    env: gym.Env

    def close(self) -> None:
        """Close the env."""
        self.env.close()


def _to_yaml(config: RunConfig) -> dict[str, Any]:
    """``run.yml``'s mapping (the keys of earlier versions: ``stock_range``, ``hyperparams``...)."""
    stocks = config.stocks
    hyperparams = {"policy": config.preset.policy, "gamma": config.gamma, **config.preset.kwargs()}
    if hyperparams["policy"] is None:
        del hyperparams["policy"]
    return {"env_id": config.env_id, "algo": config.algo, "objective": str(config.objective),
            "timesteps": int(config.timesteps), "seed": config.seed, "gamma": config.gamma,
            "stock_range": None if stocks is None or stocks.range is None else [float(x) for x in stocks.range],
            "stock_integer": bool(stocks is not None and stocks.integer),
            "stock_scale": 1.0 if stocks is None else float(stocks.scale),
            "env_kwargs": dict(config.env_kwargs), "hyperparams": hyperparams,
            "train_seconds": config.train_seconds}


def _from_yaml(data: dict[str, Any]) -> RunConfig:
    known = {"env_id", "algo", "objective", "timesteps", "seed", "gamma", "stock_range", "stock_integer",
             "stock_scale", "env_kwargs", "hyperparams", "train_seconds"}
    unknown = set(data) - known
    if unknown:
        raise TypeError(f"unknown keys {sorted(unknown)}")
    algo = data["algo"]
    if algo not in ALGOS:
        raise CliError(f"unknown algo {algo!r}; expected one of {ALGOS}")
    params = dict(data.get("hyperparams") or {})
    policy = params.pop("policy", None)
    params.pop("gamma", None)
    steps = int(data["timesteps"])
    preset = Preset(algo, data["env_id"], str(data["objective"]), float(data.get("gamma", 1.0)), max(steps, 1),
                    policy, params)
    stock_range = data.get("stock_range")
    stocks = None if algo != "detan" else TrainingStocks(
        None if stock_range is None else (float(stock_range[0]), float(stock_range[1])),
        bool(data.get("stock_integer", False)), float(data.get("stock_scale", 1.0)))
    return RunConfig(env_id=data["env_id"], algo=algo, objective=data["objective"], preset=preset, timesteps=steps,
                     seed=data.get("seed"), stocks=stocks, env_kwargs=dict(data.get("env_kwargs") or {}),
                     train_seconds=data.get("train_seconds"))


def save_run(config: RunConfig, model: Any, folder: Path) -> Path:
    """Write ``model.zip`` and ``run.yml`` to ``folder``; returns the ``run.yml`` path.

    Args:
        config: The run's configuration.
        model: The SB3 model.
        folder: The run folder (must exist).
    """
    import yaml

    model.save(Path(folder) / MODEL_FILE)
    path = Path(folder) / RUN_FILE
    path.write_text(yaml.safe_dump(_to_yaml(config), sort_keys=False))
    return path


def load_config(folder: Path) -> RunConfig:
    """The configuration in ``folder/run.yml``, or a CliError.

    Args:
        folder: A run folder.
    """
    import yaml

    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise CliError(f"{path} not found: a run folder written by 'rdo train' holds {MODEL_FILE} and {RUN_FILE}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        return _from_yaml(data)
    except CliError as err:
        raise CliError(f"{path}: {err}") from None
    except (TypeError, KeyError, ValueError, IndexError, yaml.YAMLError) as err:
        raise CliError(f"{path} is not a run file of this rdo version: {err}") from None


def load_run(path: str | Path) -> Run:
    """The run of a folder (or of the ``model.zip`` inside one), its env built once.

    Args:
        path: A run folder written by ``rdo train``, or its ``model.zip``.
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".zip" else path
    model_path = path if path.suffix == ".zip" else path / MODEL_FILE
    if not folder.exists():
        raise CliError(f"{folder} does not exist: give a run folder written by 'rdo train' (or its {MODEL_FILE})")
    if not model_path.is_file():
        raise CliError(f"no model file {model_path}: give a run folder written by 'rdo train' (or its {MODEL_FILE})")
    config = load_config(folder)
    check_env_id(config.env_id)
    if config.algo == "detan":
        from rdo_sb3 import DEtaN as algo_class
    else:
        from sb3_contrib import QRDQN as algo_class
    try:
        model = algo_class.load(model_path, device="cpu")
    except Exception as err:  # a corrupt or foreign zip: SB3 raises many kinds
        raise CliError(f"cannot load {model_path} as {config.algo}: {err}".splitlines()[0]) from None
    env = make_env(config)
    if env.observation_space != model.observation_space or env.action_space != model.action_space:
        env.close()
        raise CliError(f"{model_path} does not fit {folder / RUN_FILE}: the model's spaces "
                       f"({model.observation_space}, {model.action_space}) differ from {config.env_id}'s "
                       f"({env.observation_space}, {env.action_space})")
    return Run(config, model, env)


def default_run_folder(env_id: str, algo: str, objective: str, seed: int | None) -> Path:
    """``runs/<env>-<algo>-<objective>-seed<seed>`` with characters unsafe in paths replaced.

    Args:
        env_id: The Gymnasium id.
        algo: The agent.
        objective: The objective spec.
        seed: The seed.
    """
    name = f"{env_id.split(':', 1)[-1].split('/')[-1]}-{algo}-{objective}-seed{seed if seed is not None else 'none'}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
