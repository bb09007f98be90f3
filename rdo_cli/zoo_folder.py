"""RL Zoo log folders for `rdo evaluate` and `rdo plot`: `logs/<algo>/<env>_<n>/`, as `rl_zoo3.train`
(or `python -m rdo_sb3.zoo train`) writes it, holding the final model `<env>.zip`, `best_model.zip`
(the best on the objective with the launcher) and `<env>/config.yml` and `<env>/args.yml` (the
hyperparameters and the command's arguments).

[`is_zoo_folder`][rdo_cli.zoo_folder.is_zoo_folder] tells such a folder (or one of its `.zip` files) from an rdo
run folder; [`load_zoo_run`][rdo_cli.zoo_folder.load_zoo_run] loads the model with its class (`detan` is
[`DEtaN`][rdo_sb3.detan.DEtaN], every other name the Zoo's `ALGOS`) and rebuilds the evaluation env as the Zoo's
`enjoy` does (its `env_wrapper`, `--env-kwargs`), so that DηN is evaluated at its own initial stock and any
agent on a [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env on the wrapper's
objective. Needs `rl-zoo3` (`pip install "rdo[zoo]"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from rdo_cli.config import RunConfig, env_name
from rdo_cli.errors import CliError
from rdo_gym import Objective
from rdo_gym.presets import STOCK_AGENTS, Preset
from rdo_gym.stock import find_stock_wrapper

__all__ = ["ZooRun", "is_zoo_folder", "zoo_paths", "load_zoo_run"]

BEST_MODEL = "best_model.zip"


@dataclass
class ZooRun:
    """A loaded RL Zoo run: its model, its evaluation env and what the folder records.

    Attributes:
        folder: The run's folder (`logs/<algo>/<env>_<n>`).
        model_path: The model file loaded.
        algo: The Zoo's algorithm name (`detan`, `qrdqn`, `ppo`...).
        env_id: The Gymnasium id.
        model: The SB3 model.
        env: The evaluation env (one gymnasium env, the run's wrappers applied).
        objective: DηN's objective, or the terminal-reward wrapper's (`None` for another agent on a plain env).
        gamma: The discount of the returns (the stock wrapper's, else the agent's).
        env_kwargs: `gym.make` keyword arguments of the run.
        hyperparameters: The run's `config.yml`.
    """

    folder: Path
    model_path: Path
    algo: str
    env_id: str
    model: Any
    env: gym.Env
    objective: Objective | None
    gamma: float
    env_kwargs: dict[str, Any]
    hyperparameters: dict[str, Any]

    @property
    def steps_done(self) -> int:
        """The model's training steps."""
        return int(self.model.num_timesteps)

    @property
    def terminal_reward(self) -> bool:
        """Whether the env pays the objective as a terminal reward (an agent other than DηN)."""
        from rdo_sb3.evaluation import _find_terminal_reward

        return _find_terminal_reward(self.env) is not None

    def reference_config(self, objective: Objective) -> RunConfig:
        """A [`RunConfig`][rdo_cli.config.RunConfig] carrying the env, discount and kwargs, for
        [`rdo_cli.envs.reference_for`][rdo_cli.envs.reference_for].

        Args:
            objective: The objective evaluated.
        """
        preset = Preset.defaults("detan", str(objective), gamma=self.gamma, env_id=env_name(self.env_id),
                                 n_timesteps=max(1, self.steps_done))
        return RunConfig(env_id=self.env_id, algo="detan", objective=objective, preset=preset,
                         timesteps=max(1, self.steps_done), env_kwargs=dict(self.env_kwargs))

    def close(self) -> None:
        """Close the env."""
        self.env.close()


def _config_folder(folder: Path) -> Path | None:
    """The `<env>/` subfolder of a Zoo run folder (with `config.yml` and `args.yml`), or `None`."""
    if not folder.is_dir():
        return None
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and (sub / "config.yml").is_file() and (sub / "args.yml").is_file():
            return sub
    return None


def zoo_paths(path: Path) -> tuple[Path, Path] | None:
    """`(run folder, model file)` of a Zoo run folder or of one of its `.zip` files (the final model
    `<env>.zip`, else `best_model.zip`), or `None` if `path` is no Zoo run.

    Args:
        path: A Zoo run folder, or a model file inside one.
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".zip" else path
    config = _config_folder(folder)
    if config is None or (folder / "run.yml").is_file():
        return None
    if path.suffix == ".zip":
        return folder, path
    final = folder / f"{config.name}.zip"
    if final.is_file():
        return folder, final
    if (folder / BEST_MODEL).is_file():
        return folder, folder / BEST_MODEL
    raise CliError(f"{folder} is an RL Zoo run folder without a model ({final.name} or {BEST_MODEL}): the run "
                   "stopped before saving one")


def is_zoo_folder(path: Path) -> bool:
    """Whether `path` is an RL Zoo run folder (or a model file in one) rather than an rdo run folder.

    Args:
        path: A folder or a `.zip` file.
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".zip" else path
    return _config_folder(folder) is not None and not (folder / "run.yml").is_file()


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        with open(path) as f:  # the Zoo writes OrderedDicts (python/object tags)
            return yaml.load(f, Loader=yaml.UnsafeLoader)
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"cannot read {path}: {err}".splitlines()[0]) from None


def _first_env(venv: Any) -> gym.Env:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    current = venv
    while hasattr(current, "venv"):
        if isinstance(current, VecNormalize):
            raise CliError("the run normalizes observations (VecNormalize): its objective is of the env's own "
                           "returns at the agent's own stock, which rdo evaluates on an unnormalized env; train "
                           "without normalize")
        current = current.venv
    if not isinstance(current, DummyVecEnv):
        raise CliError(f"cannot take one env out of a {type(current).__name__}")
    return current.envs[0]


def _model_class(algo: str) -> Any:
    if algo in STOCK_AGENTS:
        from rdo_sb3.factory import agent_class

        return agent_class(algo)
    try:
        from rl_zoo3.utils import ALGOS
    except ImportError:
        raise CliError(f'reading an RL Zoo run of {algo} needs rl-zoo3: pip install "rdo[zoo]"') from None
    if algo not in ALGOS:
        raise CliError(f"the RL Zoo run's algo {algo!r} is none of the Zoo's: {', '.join(sorted(ALGOS))}")
    return ALGOS[algo]


def load_zoo_run(path: Path, *, seed: int = 0) -> ZooRun:
    """Load an RL Zoo run: the model (with its class) and the env rebuilt from the run's `config.yml`
    (`env_wrapper`) and `args.yml` (`--env-kwargs`).

    Args:
        path: A Zoo run folder, or a model file in one (e.g. its `best_model.zip`).
        seed: The seed of the env built.

    Raises:
        CliError: A folder that is no Zoo run, a missing `rl-zoo3`, a normalized run, a model that
            does not fit the env.
    """
    found = zoo_paths(path)
    if found is None:
        raise CliError(f"{path} is no RL Zoo run folder (logs/ALGO/ENV_N with ENV/config.yml and ENV/args.yml)")
    folder, model_path = found
    if not model_path.is_file():
        raise CliError(f"no model file {model_path}")
    try:
        from rl_zoo3.utils import create_test_env, get_saved_hyperparams
    except ImportError:
        raise CliError('reading RL Zoo run folders needs rl-zoo3: pip install "rdo[zoo]"') from None
    from rdo_cli.config import check_env_id
    from rdo_sb3.zoo import register

    register()
    config_folder = _config_folder(folder)
    args = dict(_read_yaml(config_folder / "args.yml") or {})
    algo, env_id = str(args.get("algo")), str(args.get("env"))
    for module in args.get("gym_packages") or []:
        try:
            __import__(module)
        except ImportError as err:
            raise CliError(f"the RL Zoo run needs --gym-packages {module}: {err}") from None
    check_env_id(env_id)
    hyperparams, _ = get_saved_hyperparams(str(config_folder), test_mode=True)
    if hyperparams.get("normalize"):
        raise CliError(f"{folder}: the run normalizes observations or rewards (VecNormalize); rdo evaluates the "
                       "objective of the env's own returns on an unnormalized env: train without normalize")
    saved = dict(_read_yaml(config_folder / "config.yml") or {})
    env_kwargs = dict(args.get("env_kwargs") or saved.get("env_kwargs") or {})
    model_class = _model_class(algo)
    try:
        model = model_class.load(str(model_path), device="cpu", custom_objects={
            "learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0})
    except Exception as err:
        raise CliError(f"cannot load {model_path} as {algo}: {err}".splitlines()[0]) from None
    try:
        venv = create_test_env(env_id, n_envs=1, seed=seed, should_render=False, hyperparams=hyperparams,
                               env_kwargs=env_kwargs)
    except Exception as err:
        raise CliError(f"cannot rebuild the env of {folder}: {type(err).__name__}: {err}".splitlines()[0]) from None
    env = _first_env(venv)
    if env.observation_space != model.observation_space or env.action_space != model.action_space:
        venv.close()
        raise CliError(f"{model_path} does not fit the env rebuilt from {config_folder}: the model's spaces "
                       f"({model.observation_space}, {model.action_space}) differ from the env's "
                       f"({env.observation_space}, {env.action_space})")
    from rdo_sb3.evaluation import _find_terminal_reward

    objective = getattr(model, "objective", None) if hasattr(model, "choose_initial_stock") else None
    terminal = _find_terminal_reward(env)
    if objective is None and terminal is not None:
        objective = terminal.objective
    stock = find_stock_wrapper(env)
    gamma = float(stock.gamma) if stock is not None else float(getattr(model, "gamma", 1.0))
    return ZooRun(folder, model_path, algo, env_id, model, env, objective, gamma, env_kwargs, saved)

