"""Run folders: `model.zip` (SB3's format) and `run.yml` (the [`RunConfig`][rdo_cli.config.RunConfig],
with how far the run got), next to the training logs.

`rdo train` writes one ([`save_run`][rdo_cli.run_folder.save_run], atomically: a file being replaced is written to a
temporary file first, so a kill mid-write leaves the previous one); `rdo evaluate` and
`rdo plot` read it back ([`load_run`][rdo_cli.run_folder.load_run]) with the env rebuilt once from the configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from rdo_cli.config import ALGOS, STATUSES, RunConfig, TrainingOptions, TrainingStocks, check_env_id, env_name
from rdo_cli.envs import make_env
from rdo_cli.errors import CliError
from rdo_gym.presets import STOCK_AGENTS, Preset

__all__ = ["MODEL_FILE", "RUN_FILE", "REPLAY_BUFFER_FILE", "Run", "save_run", "write_run_file", "atomic_write",
           "load_config", "load_run", "default_run_folder"]

MODEL_FILE = "model.zip"
RUN_FILE = "run.yml"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
_PRESET_ONLY = ("policy", "gamma")  # in run.yml's hyperparams, fields of the preset


@dataclass
class Run:
    """A loaded run: its configuration, its model and its env (built once, [`close`][rdo_cli.run_folder.Run.close] it).

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
    """`run.yml`'s mapping (the keys of earlier versions: `stock_range`, `hyperparams`...)."""
    stocks = config.stocks
    hyperparams = {"policy": config.preset.policy, "gamma": config.gamma, **config.preset.kwargs()}
    if hyperparams["policy"] is None:
        del hyperparams["policy"]
    return {"env_id": config.env_id, "algo": config.algo, "objective": str(config.objective),
            "timesteps": int(config.timesteps), "seed": config.seed, "gamma": config.gamma,
            "stock_range": None if stocks is None or stocks.range is None else [float(x) for x in stocks.range],
            "stock_integer": bool(stocks is not None and stocks.integer),
            "stock_scale": 1.0 if stocks is None else float(stocks.scale),
            "stock_representation": None if stocks is None else stocks.representation,
            "stock_range_auto": None if stocks is None or not stocks.auto else (stocks.estimate or {}),
            "env_kwargs": dict(config.env_kwargs), "hyperparams": hyperparams,
            "train_seconds": config.train_seconds,
            "steps_done": int(config.steps_done), "status": config.status, "error": config.error,
            "training": asdict(config.training), "commands": list(config.commands),
            "versions": dict(config.versions)}


def _from_yaml(data: dict[str, Any]) -> RunConfig:
    known = {"env_id", "algo", "objective", "timesteps", "seed", "gamma", "stock_range", "stock_integer",
             "stock_scale", "stock_representation", "stock_range_auto", "env_kwargs", "hyperparams", "train_seconds",
             "steps_done", "status", "error",
             "training", "commands", "versions"}
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
    stocks = None if algo not in STOCK_AGENTS else TrainingStocks(
        None if stock_range is None else (float(stock_range[0]), float(stock_range[1])),
        bool(data.get("stock_integer", False)), float(data.get("stock_scale", 1.0)),
        auto=data.get("stock_range_auto") is not None, representation=data.get("stock_representation"),
        estimate=data.get("stock_range_auto"))
    status = data.get("status", "finished")  # runs written before the status was recorded had finished
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is none of {', '.join(STATUSES)}")
    training = TrainingOptions(**(data.get("training") or {}))
    return RunConfig(env_id=data["env_id"], algo=algo, objective=data["objective"], preset=preset, timesteps=steps,
                     seed=data.get("seed"), stocks=stocks, env_kwargs=dict(data.get("env_kwargs") or {}),
                     train_seconds=data.get("train_seconds"), training=training,
                     steps_done=int(data.get("steps_done", steps)), status=status, error=data.get("error"),
                     commands=list(data.get("commands") or []), versions=dict(data.get("versions") or {}))


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` to a temporary file next to `path`, then `os.replace` it onto `path`:
    a reader (or a kill mid-write) sees the old file or the new one, never half of one.

    Args:
        path: The file to (re)place.
        write: Writes the content to the path it is given (same suffix as `path`).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_run_file(config: RunConfig, folder: Path) -> Path:
    """Write `run.yml` (atomically); returns its path.

    Args:
        config: The run's configuration and status.
        folder: The run folder (must exist).
    """
    import yaml

    text = yaml.safe_dump(_to_yaml(config), sort_keys=False, allow_unicode=True, width=1_000_000)
    return atomic_write(Path(folder) / RUN_FILE, lambda tmp: tmp.write_text(text))


def save_run(config: RunConfig, model: Any, folder: Path, *, replay_buffer: bool = False) -> Path:
    """Write `model.zip` (and `replay_buffer.pkl`), then `run.yml`, each atomically; returns
    the `run.yml` path. `config.steps_done` is set to the model's step count.

    Args:
        config: The run's configuration and status.
        model: The SB3 model.
        folder: The run folder (must exist).
        replay_buffer: Also save the model's replay buffer.
    """
    folder = Path(folder)
    atomic_write(folder / MODEL_FILE, model.save)
    if replay_buffer and getattr(model, "replay_buffer", None) is not None:
        atomic_write(folder / REPLAY_BUFFER_FILE, model.save_replay_buffer)
    config.steps_done = int(model.num_timesteps)
    return write_run_file(config, folder)


def load_config(folder: Path) -> RunConfig:
    """The configuration in `folder/run.yml`, or a CliError.

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
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise CliError(f"{path} is not a run file: invalid YAML{where}: {problem}") from None
    except (TypeError, KeyError, ValueError, IndexError) as err:
        what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise CliError(f"{path} is not a run file of this rdo version: {what}") from None


def load_run(path: str | Path) -> Run:
    """The run of a folder (or of the `model.zip` inside one), its env built once.

    Args:
        path: A run folder written by `rdo train`, or its `model.zip`.
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
    from rdo_sb3.factory import agent_class

    try:
        model = agent_class(config.algo).load(model_path, device="cpu")
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
    """`runs/<env>-<algo>-<objective>-seed<seed>` with characters unsafe in paths replaced.

    Args:
        env_id: The Gymnasium id.
        algo: The agent.
        objective: The objective spec.
        seed: The seed.
    """
    name = f"{env_name(env_id).split('/')[-1]}-{algo}-{objective}-seed{seed if seed is not None else 'none'}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
