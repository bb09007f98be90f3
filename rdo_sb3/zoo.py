"""RL Baselines3 Zoo launcher with DηN and DηTQC: `python -m rdo_sb3.zoo train|enjoy|evaluate ...`.

The Zoo builds its `--algo` choices from `rl_zoo3.utils.ALGOS` before it imports
`--gym-packages` and has no plugin mechanism, so `--algo detan` (and `--algo detatqc`) needs this launcher:
it adds [`DEtaN`][rdo_sb3.detan.DEtaN] and [`DEtaTQC`][rdo_sb3.detatqc.DEtaTQC] to the Zoo's algorithms (and to
its hyperparameter samplers for `-optimize`) and hands over to the Zoo's own `train` and `enjoy` entry points,
so that every Zoo flag works. On top of the Zoo it makes the evaluation objective-aware:

* `train`: for DηN and DηTQC (and for any agent on a
  [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env), the Zoo's `EvalCallback` (mean
  reward from the env's own initial stock) gives way to an
  [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] (the objective at the agent's own `c0`), run
  every `--eval-freq` steps on `--eval-episodes` episodes and saving `best_model.zip` on the objective; an
  `ObjectiveEvalCallback` of the hyperparameter file's `callback:` key takes its place, its unset settings filled in
  from those flags.
* `enjoy`: every episode starts at DηN's own initial stock ([`AgentInitialStock`][rdo_sb3.zoo.AgentInitialStock]), and
  the objective over the episodes played is printed at the end (with the returns of the env's own rewards
  on a terminal-reward env).
* `evaluate` (rdo's): [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] on a trained Zoo agent, with a CI
  and, given `--reference rdo_envs.reference`, the score normalized against the exact optimum.

Example (hyperparameters shipped with rdo):

    python -m rdo_sb3.zoo train --algo detan --env rdo/CVaRGrid-v0 --gym-packages rdo_envs \\
        -conf rdo_envs.presets.zoo.detan -f logs
    python -m rdo_sb3.zoo enjoy --algo detan --env rdo/CVaRGrid-v0 --gym-packages rdo_envs -f logs --no-render
    python -m rdo_sb3.zoo evaluate --algo detan --env rdo/CVaRGrid-v0 --gym-packages rdo_envs -f logs \\
        --reference rdo_envs.reference

Needs `rl-zoo3` (`pip install "rdo[zoo]"`); importing this module does not import it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rdo_gym.objectives import Objective
from rdo_gym.stock import find_stock_wrapper
from rdo_sb3.callbacks import ObjectiveEvalCallback, _resolve_callable
from rdo_sb3.evaluation import _find_terminal_reward, bootstrap_ci, evaluate_objective

__all__ = ["ALGO", "STOCK_ALGOS", "register", "train", "enjoy", "evaluate", "main", "AgentInitialStock",
           "sample_detan_params", "sample_detatqc_params", "convert_detan_params"]

ALGO = "detan"
"""The name of DηN among the Zoo's algorithms (`--algo detan`)."""
STOCK_ALGOS = ("detan", "detatqc")
"""The Zoo names of rdo's stock agents: DηN (`--algo detan`) and DηTQC (`--algo detatqc`)."""
_INSTALL_HINT = 'the RL Zoo launcher needs rl-zoo3: pip install "rdo[zoo]" (or pip install rl-zoo3)'


def _import_zoo() -> Any:
    try:
        import rl_zoo3.utils
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return rl_zoo3.utils


def sample_detan_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """The Zoo's QR-DQN hyperparameter sampler for `-optimize`, without `gamma`: DηN's gamma is the
    stock wrapper's (the objective's discount), never tuned."""
    from rl_zoo3.hyperparams_opt import sample_qrdqn_params

    params = sample_qrdqn_params(trial, n_actions, n_envs, additional_args)
    params.pop("gamma", None)
    return params


def sample_detatqc_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """The Zoo's TQC hyperparameter sampler for `-optimize`, without `gamma` (the stock wrapper's)."""
    from rl_zoo3.hyperparams_opt import sample_tqc_params

    params = sample_tqc_params(trial, n_actions, n_envs, additional_args)
    params.pop("gamma", None)
    return params


def convert_detan_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """The Zoo's off-policy conversion of sampled parameters (`--trial-id`), without `gamma`; for DηN and
    DηTQC alike."""
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    params = convert_offpolicy_params({"one_minus_gamma": 0.0, **sampled_params})
    params.pop("gamma", None)
    return params


def _stock_classes() -> dict[str, type]:
    from rdo_sb3.detan import DEtaN
    from rdo_sb3.detatqc import DEtaTQC

    return {"detan": DEtaN, "detatqc": DEtaTQC}


def register() -> None:
    """Add DηN and DηTQC to the Zoo: `ALGOS["detan"]`, `ALGOS["detatqc"]` (the `--algo` choices, model
    creation and loading) and their `-optimize` samplers and converters. Idempotent; `qrdqn` and `tqc` stay
    the Zoo's."""
    utils = _import_zoo()
    from rl_zoo3 import hyperparams_opt

    samplers = {"detan": sample_detan_params, "detatqc": sample_detatqc_params}
    for name, cls in _stock_classes().items():
        utils.ALGOS[name] = cls  # the one dict that rl_zoo3, its train, enjoy and exp_manager share
        hyperparams_opt.HYPERPARAMS_SAMPLER[name] = samplers[name]
        hyperparams_opt.HYPERPARAMS_CONVERTER[name] = convert_detan_params


# -- train ----------------------------------------------------------------------------------------
def _first_env(venv: Any) -> gym.Env | None:
    """The first env of a `DummyVecEnv` (through VecEnv wrappers), or `None`."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    current = venv
    while hasattr(current, "venv"):
        current = current.venv
    return current.envs[0] if isinstance(current, DummyVecEnv) else None


def _adopt_objective_callbacks(manager: Any) -> None:
    """Replace the Zoo's `EvalCallback` by an [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] where
    the objective is defined (DηN, or a terminal-reward env), filling in the unset settings of the file's ones."""
    from stable_baselines3.common.callbacks import EvalCallback

    callbacks = manager.callbacks
    ours = [cb for cb in callbacks if isinstance(cb, ObjectiveEvalCallback)]
    zoo = next((cb for cb in callbacks if type(cb) is EvalCallback), None)
    zoo_env = None if zoo is None else _first_env(zoo.eval_env)
    terminal = zoo_env is not None and _find_terminal_reward(zoo_env) is not None
    if not (ours or manager.algo in STOCK_ALGOS or terminal):
        return
    if zoo is not None and not ours:
        ours = [ObjectiveEvalCallback(eval_env=None, verbose=manager.verbose, deterministic=zoo.deterministic,
                                      callback_on_new_best=zoo.callback_on_new_best)]
        callbacks[callbacks.index(zoo)] = ours[0]
    elif zoo is not None:
        callbacks.remove(zoo)
    for cb in ours:
        if cb.eval_env is None and zoo_env is not None:
            cb.eval_env = zoo_env  # the Zoo's evaluation env: env_wrapper, --eval-env-kwargs
        if cb.eval_freq is None and zoo is not None:
            cb.eval_freq = zoo.eval_freq  # --eval-freq, already divided by n_envs
        if cb.n_eval_episodes is None and zoo is not None:
            cb.n_eval_episodes = zoo.n_eval_episodes
        if cb.log_path is None:
            cb.log_path = manager.save_path
        if cb.best_model_save_path is None:
            cb.best_model_save_path = manager.save_path
        if cb.callback_on_new_best is None and zoo is not None and zoo.callback_on_new_best is not None:
            cb.callback_on_new_best = zoo.callback_on_new_best
            cb.callback_on_new_best.parent = cb


def _experiment_manager() -> type:
    from rl_zoo3.exp_manager import ExperimentManager

    class RdoExperimentManager(ExperimentManager):
        """The Zoo's ExperimentManager with objective-aware evaluation callbacks."""

        def create_callbacks(self) -> None:
            super().create_callbacks()
            _adopt_objective_callbacks(self)

    return RdoExperimentManager


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


@contextlib.contextmanager
def _argv(prog: str, argv: Sequence[str] | None) -> Iterator[None]:
    if argv is None:
        yield
        return
    old = sys.argv
    sys.argv = [prog, *argv]
    try:
        yield
    finally:
        sys.argv = old


def train(argv: Sequence[str] | None = None) -> None:
    """The Zoo's `train` (all its flags) with DηN and DηTQC registered and objective-aware evaluation.

    Args:
        argv: the Zoo's `train` arguments (default: `sys.argv[1:]`).
    """
    register()
    import rl_zoo3.train as zoo_train

    with _patched(zoo_train, "ExperimentManager", _experiment_manager()), _argv("rdo_sb3.zoo train", argv):
        zoo_train.train()


# -- enjoy ----------------------------------------------------------------------------------------
class AgentInitialStock(gym.Wrapper):
    """Start every episode at a DηN agent's own initial stock, and record the episodes' returns.

    At each reset (without an `initial_stock` option) the env is reset with an episode seed drawn
    from the wrapper's generator, the agent chooses `c0` at that start observation
    ([`choose_initial_stock`][rdo_sb3.detan.DEtaN.choose_initial_stock]: the objective's fixed stock, or the CVaR
    search), and the env is reset again with the same seed at that `c0`, as
    [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] does. Without a model (`model=None`, or a naive
    agent) the env's own stock is kept. Completed episodes are recorded in `returns` (discounted with the
    stock's gamma; the env's own rewards `info["original_reward"]` on a terminal-reward env) and
    `initial_stocks`.

    Args:
        env: a stock-augmented env (a [`StockAugmentation`][rdo_gym.stock.StockAugmentation] in its chain).
        model: the DηN agent choosing `c0`, or `None` (set `model` later).
    """

    def __init__(self, env: gym.Env, model: Any = None):
        super().__init__(env)
        stock = find_stock_wrapper(env)
        if stock is None:
            raise ValueError("AgentInitialStock needs a StockAugmentation in the env's wrapper chain")
        self.model = model
        self.gamma = stock.gamma
        self._stock = stock
        self._original = _find_terminal_reward(env) is not None
        self._rng = np.random.default_rng()
        self._g, self._discount = 0.0, 1.0
        self.returns: list[float] = []
        """Discounted return and `c0` of every completed episode."""
        self.initial_stocks: list[float] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._g, self._discount = 0.0, 1.0
        model = self.model
        if (model is None or getattr(model, "naive", False) or not hasattr(model, "choose_initial_stock")
                or (options is not None and "initial_stock" in options)):
            return self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        episode_seed = int(self._rng.integers(0, 2**31 - 1))
        first, _ = self.env.reset(seed=episode_seed, options=options)
        c0, _ = model.choose_initial_stock(first)
        return self.env.reset(seed=episode_seed, options={**(options or {}), "initial_stock": c0})

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        r = info["original_reward"] if self._original else reward
        self._g += self._discount * float(r)
        self._discount *= self.gamma
        if terminated or truncated:
            self.returns.append(self._g)
            self.initial_stocks.append(self._stock.episode_initial_stock)
        return obs, reward, terminated, truncated, info


def _wrap_envs(venv: Any) -> list[AgentInitialStock]:
    """Wrap every env of a `DummyVecEnv` with stock in [`AgentInitialStock`][rdo_sb3.zoo.AgentInitialStock] (in
    place)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    current = venv
    while hasattr(current, "venv"):
        current = current.venv
    if not isinstance(current, DummyVecEnv):
        return []
    wrapped = []
    for i, env in enumerate(current.envs):
        if find_stock_wrapper(env) is not None:
            current.envs[i] = AgentInitialStock(env)
            wrapped.append(current.envs[i])
    return wrapped


def _summary(objective: Objective, returns: Sequence[float], initial_stocks: Sequence[float],
             searched: bool) -> str:
    g = np.asarray(returns, dtype=np.float64)
    value = float(objective.value(g)) + 0.0
    low, high = bootstrap_ci(objective, g, 0.95, 2000, 0)
    c0 = np.asarray(initial_stocks, dtype=np.float64)
    origin = "the agent's own" if searched else "the env's"
    return (f"{objective}: value {value:.4g} (95% CI {low:.4g} .. {high:.4g}) over {len(g)} episodes at "
            f"{origin} initial stock (mean c0 {c0.mean():.3g}); mean return {g.mean():.4g}")


def enjoy(argv: Sequence[str] | None = None) -> None:
    """The Zoo's `enjoy` (all its flags) with DηN and DηTQC registered, every episode started at the agent's own
    initial stock, and the objective over the episodes played printed at the end.

    Args:
        argv: the Zoo's `enjoy` arguments (default: `sys.argv[1:]`).
    """
    register()
    import rl_zoo3.enjoy as zoo_enjoy
    from rl_zoo3.utils import ALGOS

    created: list[AgentInitialStock] = []
    loaded: list[Any] = []
    make_test_env = zoo_enjoy.create_test_env

    def create_test_env(*args: Any, **kwargs: Any) -> Any:
        venv = make_test_env(*args, **kwargs)
        created.extend(_wrap_envs(venv))
        return venv

    def loader(cls: type) -> Any:
        """`ALGOS[name]` of a stock agent while enjoying: loads the agent and binds it to the wrapped envs."""

        class _Load:
            @staticmethod
            def load(path: str, **kwargs: Any) -> Any:
                model = cls.load(path, **kwargs)
                for env in created:
                    env.model = model
                loaded.append(model)
                return model

        return _Load

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(zoo_enjoy, "create_test_env", create_test_env))
        stack.enter_context(_argv("rdo_sb3.zoo enjoy", argv))
        for name, cls in _stock_classes().items():
            stack.enter_context(_patched_item(ALGOS, name, loader(cls)))
        zoo_enjoy.enjoy()

    if loaded and not created:
        print("note: the episodes did not start at the agent's own initial stock: that needs one env (the default "
              "--n-envs 1) with a StockAugmentation; python -m rdo_sb3.zoo evaluate reports the objective",
              file=sys.stderr)
    returns = [g for env in created for g in env.returns]
    stocks = [c for env in created for c in env.initial_stocks]
    if not returns:
        return
    if loaded:
        objective, searched = loaded[0].objective, not loaded[0].naive
    else:
        terminal = _find_terminal_reward(created[0])
        if terminal is None:
            return
        objective, searched = terminal.objective, False
    print(_summary(objective, returns, stocks, searched))


@contextlib.contextmanager
def _patched_item(mapping: dict, key: str, value: Any) -> Iterator[None]:
    old = mapping[key]
    mapping[key] = value
    try:
        yield
    finally:
        mapping[key] = old


# -- evaluate -------------------------------------------------------------------------------------
def _evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rdo_sb3.zoo evaluate",
        description="Evaluate the objective of a trained RL Zoo agent (DηN at its own initial stock, or any "
                    "agent on a TerminalObjectiveReward env) with a bootstrap confidence interval.")
    parser.add_argument("--env", required=True, help="environment ID, e.g. rdo/CVaRGrid-v0")
    parser.add_argument("--algo", default=ALGO, help="the Zoo algorithm of the run (default: detan)")
    parser.add_argument("-f", "--folder", default="logs", help="the Zoo log folder (default: logs)")
    parser.add_argument("--exp-id", type=int, default=0, help="experiment ID (default: 0: latest)")
    parser.add_argument("--load-best", action="store_true", help="load best_model.zip (best on the objective)")
    parser.add_argument("--load-checkpoint", type=int, help="load the checkpoint of this many timesteps")
    parser.add_argument("--load-last-checkpoint", action="store_true", help="load the last checkpoint")
    parser.add_argument("--gym-packages", nargs="+", default=[], help="modules registering the env (rdo_envs)")
    parser.add_argument("-n", "--n-episodes", type=int, default=1000, help="episodes (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episodes (default: 0)")
    parser.add_argument("--initial-stock", type=float, default=None,
                        help="evaluate at this c0 instead of the agent's own choice")
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of greedy ones")
    parser.add_argument("--reference", default=None,
                        help="dotted path of a callable (env_id, objective) -> ExactReference, e.g. "
                             "rdo_envs.reference: also print the normalized score and the exact optimum")
    parser.add_argument("--device", default="cpu", help="PyTorch device (default: cpu)")
    return parser


def evaluate(argv: Sequence[str] | None = None) -> Any:
    """`python -m rdo_sb3.zoo evaluate`: [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] on a Zoo run.

    The model and its env are found as the Zoo's `enjoy` finds them (`-f`, `--exp-id`,
    `--load-best`...); the env is rebuilt from the run's saved hyperparameters (its `env_wrapper`).

    Args:
        argv: the arguments (default: `sys.argv[1:]`).

    Returns:
        The [`ObjectiveEvaluation`][rdo_sb3.evaluation.ObjectiveEvaluation].
    """
    args = _evaluate_parser().parse_args(argv)
    register()
    import os

    from huggingface_sb3 import EnvironmentName
    from rl_zoo3.utils import ALGOS, create_test_env, get_model_path, get_saved_hyperparams

    for module in args.gym_packages:
        importlib.import_module(module)
    if args.algo not in ALGOS:
        raise SystemExit(f"unknown --algo {args.algo!r}; expected one of {sorted(ALGOS)}")
    env_name = EnvironmentName(args.env)
    _, model_path, log_path = get_model_path(args.exp_id, args.folder, args.algo, env_name, args.load_best,
                                             args.load_checkpoint, args.load_last_checkpoint)
    hyperparams, _ = get_saved_hyperparams(os.path.join(log_path, env_name), test_mode=True)
    if hyperparams.get("normalize"):
        raise SystemExit("the run normalizes its observations or rewards (VecNormalize): the objective is of the "
                         "env's own returns, evaluate it without normalization")
    env_kwargs = hyperparams.pop("env_kwargs", None) or {}
    args_path = os.path.join(log_path, env_name, "args.yml")
    if os.path.isfile(args_path):  # --env-kwargs of the training command, as the Zoo's enjoy reads them
        import yaml

        with open(args_path) as f:
            trained_with = yaml.load(f, Loader=yaml.UnsafeLoader)
        env_kwargs = trained_with.get("env_kwargs") or env_kwargs
    venv = create_test_env(env_name.gym_id, n_envs=1, seed=args.seed, should_render=False,
                           hyperparams=hyperparams, env_kwargs=env_kwargs)
    env = _first_env(venv)
    model = ALGOS[args.algo].load(model_path, device=args.device, custom_objects={
        "learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0})
    evaluation = evaluate_objective(model, env, args.n_episodes, seed=args.seed,
                                    deterministic=not args.stochastic, initial_stock=args.initial_stock)
    print(f"Loaded {model_path}")
    print(evaluation)
    stocks = evaluation.initial_stocks
    if not np.isnan(stocks).all():
        values, counts = np.unique(stocks[~np.isnan(stocks)], return_counts=True)
        common = ", ".join(f"{v:g} ({c})" for v, c in zip(values, counts, strict=True))
        print(f"initial stocks c0: {common}")
    if args.reference is not None:
        reference = _resolve_callable(args.reference)(env.unwrapped.spec.id, evaluation.objective)
        normalized = float(reference.normalized(evaluation.value))
        gap = "" if math.isnan(normalized) else f"; normalized score {normalized:.3f}"
        print(f"exact optimum {reference.optimum:.4g} at c0* = {reference.initial_stock:g}, risk-neutral "
              f"{reference.risk_neutral:.4g}{gap}")
    venv.close()
    return evaluation


COMMANDS = {"train": train, "enjoy": enjoy, "evaluate": evaluate}


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m rdo_sb3.zoo COMMAND [ARGS...]`: COMMAND is `train` or `enjoy` (the Zoo's, with
    DηN) or `evaluate`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m rdo_sb3.zoo {train,enjoy,evaluate} [ARGS...]\n"
              "  train, enjoy: the RL Zoo's commands with --algo detan available (all their flags: see --help)\n"
              "  evaluate: the objective of a trained Zoo agent with a confidence interval", file=sys.stderr)
        raise SystemExit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
