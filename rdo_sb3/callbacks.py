"""Objective-aware evaluation during training: [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback].

SB3's (and the RL Zoo's) `EvalCallback` reports the mean reward of episodes started from the env's
own initial stock. For a DηN agent that is the wrong quantity on two counts: the agent chooses its
own `c0` (the CVaR search), and its objective is not the mean. This callback runs
[`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] every `eval_freq` steps instead, so the reported value
is the objective's (CVaR, target error...) at the agent's own `c0`; any other SB3 model is evaluated the
same way on a [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator
from stable_baselines3.common.callbacks import BaseCallback, EventCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from rdo_gym.dp import ExactReference
from rdo_gym.objectives import Objective
from rdo_sb3.evaluation import ObjectiveEvaluation, _find_terminal_reward, evaluate_objective

__all__ = ["ObjectiveEvalCallback", "make_eval_env_like"]

CSV_COLUMNS = ("timesteps", "objective", "value", "ci_low", "ci_high", "normalized", "mean_return",
               "mean_initial_stock", "mean_ep_length", "episodes", "best")
"""Columns of the CSV written to `log_path`."""
CSV_NAME = "objective_evaluations.csv"
_MONITOR_ENTRY_POINT = "stable_baselines3.common.monitor:Monitor"

ReferenceLike = ExactReference | Callable[[str, Objective], ExactReference | None] | str | None


def make_eval_env_like(env: gym.Env | VecEnv) -> gym.Env:
    """A fresh env built like `env` (the first env of a VecEnv): its registered id and keyword
    arguments, then the same wrappers with the same arguments (from the env's `spec`).

    SB3's `Monitor` is left out (it only logs). A wrapper that does not record its constructor
    arguments (`gymnasium.utils.RecordConstructorArgs`) cannot be rebuilt: `ValueError`, asking
    for an explicit evaluation env.
    """
    if isinstance(env, VecEnv):
        spec = env.get_attr("spec", [0])[0]
    else:
        spec = env.spec
    if spec is None:
        raise ValueError("ObjectiveEvalCallback: the training env has no registered spec to rebuild an "
                         "evaluation env from; pass eval_env=")
    wrappers = spec.additional_wrappers
    base = gym.make(dataclasses.replace(spec, additional_wrappers=()))
    out: gym.Env = base
    for wrapper in wrappers:
        if wrapper.entry_point == _MONITOR_ENTRY_POINT:
            continue
        if wrapper.kwargs is None:
            base.close()
            raise ValueError(f"ObjectiveEvalCallback: the wrapper {wrapper.name} of the training env does not "
                             "record its arguments, so an evaluation env cannot be rebuilt from the training "
                             "env; pass eval_env= (an env wrapped like the training env)")
        out = load_env_creator(wrapper.entry_point)(out, **wrapper.kwargs)
    return out


def _single_env(env: gym.Env | VecEnv) -> gym.Env:
    """The gymnasium env to evaluate on: `env` itself, or the first env of a `DummyVecEnv`."""
    if not isinstance(env, VecEnv):
        return env
    current: Any = env
    while hasattr(current, "venv"):
        if isinstance(current, VecNormalize):
            raise ValueError("ObjectiveEvalCallback: the evaluation env is normalized (VecNormalize); the "
                             "objective is of the env's own returns, and DηN's stock must not be normalized")
        current = current.venv
    if not isinstance(current, DummyVecEnv):
        raise TypeError(f"ObjectiveEvalCallback evaluates one gymnasium env; got a {type(current).__name__} "
                        "(only a DummyVecEnv's first env can be taken)")
    return current.envs[0]


def _mean_stock(evaluation: ObjectiveEvaluation) -> float:
    """Mean `c0` of an evaluation; NaN when none was set (naive mode)."""
    stocks = evaluation.initial_stocks
    return math.nan if np.isnan(stocks).all() else float(np.nanmean(stocks))


def _resolve_callable(name: str) -> Callable[..., Any]:
    """`"package.module.function"` or `"package.module:function"` -> the function."""
    module, sep, attr = name.partition(":")
    if not sep:
        module, _, attr = name.rpartition(".")
    if not module or not attr:
        raise ValueError(f"ObjectiveEvalCallback(reference={name!r}): expected a dotted path to a callable "
                         "(env_id, objective) -> ExactReference, e.g. 'rdo_envs.reference'")
    found = getattr(importlib.import_module(module), attr, None)
    if not callable(found):
        raise ValueError(f"ObjectiveEvalCallback(reference={name!r}): {attr!r} of {module!r} is not callable")
    return found


class ObjectiveEvalCallback(EventCallback):
    """Evaluate the agent's objective every `eval_freq` steps with
    [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective].

    A DηN agent is evaluated at its own initial stock (its objective's fixed `c0`, or the CVaR
    search); any other SB3 model on a [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env
    with the wrapper's objective and `c0`. Each evaluation runs the same `n_eval_episodes` episodes (one
    `seed`), so that successive values are comparable, and its figures are exactly those of
    `evaluate_objective(model, eval_env, n_eval_episodes, seed=seed)`.

    It logs to the SB3 logger (stdout, tensorboard...) `eval/objective` (the value),
    `eval/objective_ci_low` and `eval/objective_ci_high` (bootstrap CI), `eval/normalized`
    (with a reference: 0 at the risk-neutral policy, 1 at the exact optimum), `eval/mean_return`,
    `eval/mean_initial_stock` and `eval/mean_ep_length`; appends a row per evaluation to
    `log_path/objective_evaluations.csv`; and saves `best_model_save_path/best_model.zip` whenever
    the value improves (in the objective's direction, `higher_is_better`), as SB3's
    `EvalCallback` does, so that RL Zoo's `--load-best` loads the best agent on the objective.

    `best_mean_reward` and `last_mean_reward` hold the best and the last value oriented so that
    higher is better (`-value` for an objective to minimize), so SB3's stopping callbacks
    (`StopTrainingOnNoModelImprovement`, `StopTrainingOnRewardThreshold`) work as
    `callback_after_eval` / `callback_on_new_best`. `on_evaluation(callback, evaluation)` is
    called after each evaluation (a tuner reports `evaluation.value` and may prune there, e.g. raise
    `optuna.TrialPruned`); it returns `False` to stop training.

    From the RL Zoo (`callback:` key of a hyperparameter file):

        callback:
          - rdo_sb3.ObjectiveEvalCallback: {eval_freq: 5000, n_eval_episodes: 200,
                                            reference: rdo_envs.reference, log_path: logs/objective}

    Args:
        eval_env: the env to evaluate on, stock-augmented like the training env: a gymnasium env, a
            `DummyVecEnv` (its first env), a callable returning one, or `None`: rebuilt at the
            start of training from the training env's spec (its id, arguments and wrappers, see
            [`make_eval_env_like`][rdo_sb3.callbacks.make_eval_env_like]).
        eval_freq: evaluate every `eval_freq` calls of the callback (steps of the VecEnv: with
            `n_envs` envs, `eval_freq * n_envs` environment steps). `None`: 10000.
        n_eval_episodes: episodes per evaluation (the CVaR of a small sample is noisy). `None`: 100.
        seed: seed of every evaluation's episodes (`evaluate_objective(seed=)`).
        deterministic: greedy actions (default) or sampled ones.
        initial_stock: evaluate at this `c0` instead of the agent's own choice (or the terminal-
            reward env's fixed stock).
        stock_candidates: candidate stocks of the CVaR search (default: the agent's).
        confidence: level of the bootstrap CI.
        n_bootstrap: bootstrap resamples.
        reference: the exact optimum to normalize against: an [`ExactReference`][rdo_gym.dp.comparison.ExactReference],
            a callable `(env_id, objective) -> ExactReference` called once at the start of training
            with the evaluation env's id and the objective (`rdo_envs.reference` is one), or the
            dotted path of such a callable (`"rdo_envs.reference"`, for YAML files).
        log_path: folder of the CSV (created if needed), or `None`.
        best_model_save_path: folder of `best_model.zip`, or `None` (not saved).
        callback_on_new_best: called when the value improves (SB3 convention).
        callback_after_eval: called after every evaluation (SB3 convention).
        on_evaluation: `(callback, ObjectiveEvaluation) -> bool | None`; `False` stops training.
        verbose: 1 prints one line per evaluation, 0 nothing.
    """

    def __init__(self, eval_env: gym.Env | VecEnv | Callable[[], gym.Env] | None = None,
                 eval_freq: int | None = None, n_eval_episodes: int | None = None, *, seed: int = 0,
                 deterministic: bool = True, initial_stock: float | None = None, stock_candidates: Any = None,
                 confidence: float = 0.95, n_bootstrap: int = 2000, reference: ReferenceLike = None,
                 log_path: str | os.PathLike | None = None, best_model_save_path: str | os.PathLike | None = None,
                 callback_on_new_best: BaseCallback | None = None, callback_after_eval: BaseCallback | None = None,
                 on_evaluation: Callable[[ObjectiveEvalCallback, ObjectiveEvaluation], bool | None] | None = None,
                 verbose: int = 1):
        super().__init__(callback_after_eval, verbose=verbose)
        if eval_freq is not None and not (isinstance(eval_freq, int | np.integer) and eval_freq >= 1):
            raise ValueError(f"eval_freq must be a positive integer, got {eval_freq!r}")
        if n_eval_episodes is not None and not (isinstance(n_eval_episodes, int | np.integer)
                                                and n_eval_episodes >= 1):
            raise ValueError(f"n_eval_episodes must be a positive integer, got {n_eval_episodes!r}")
        if not (0.0 < confidence < 1.0):
            raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
        if on_evaluation is not None and not callable(on_evaluation):
            raise TypeError(f"on_evaluation must be a callable (callback, evaluation) -> bool | None, "
                            f"got {on_evaluation!r}")
        if isinstance(reference, str):
            reference = _resolve_callable(reference)
        if reference is not None and not (isinstance(reference, ExactReference) or callable(reference)):
            raise TypeError(f"reference must be an ExactReference, a callable (env_id, objective) -> "
                            f"ExactReference or its dotted path, got {reference!r}")
        self.eval_env = eval_env
        self.eval_freq = None if eval_freq is None else int(eval_freq)
        self.n_eval_episodes = None if n_eval_episodes is None else int(n_eval_episodes)
        self.seed = seed
        self.deterministic = bool(deterministic)
        self.initial_stock = initial_stock
        self.stock_candidates = stock_candidates
        self.confidence = float(confidence)
        self.n_bootstrap = int(n_bootstrap)
        self.reference = reference
        self.log_path = None if log_path is None else os.fspath(log_path)
        self.best_model_save_path = None if best_model_save_path is None else os.fspath(best_model_save_path)
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self
        self.on_evaluation = on_evaluation
        self.evaluations: list[tuple[int, ObjectiveEvaluation]] = []
        """Every evaluation so far, as `(timesteps, ObjectiveEvaluation)`."""
        self.last_evaluation: ObjectiveEvaluation | None = None
        self.best_mean_reward = -math.inf
        """The best and the last value, oriented so that higher is better (SB3's stop callbacks read them)."""
        self.last_mean_reward = -math.inf
        self.best_value = math.nan
        """The best value in the objective's own direction (NaN before the first evaluation)."""
        self.exact_reference: ExactReference | None = None
        self._env: gym.Env | None = None
        self._owns_env = False
        self._objective: Objective | None = None

    # -- setup ------------------------------------------------------------------------------------
    def _init_callback(self) -> None:
        if self.eval_freq is None:
            self.eval_freq = 10000
        if self.n_eval_episodes is None:
            self.n_eval_episodes = 100
        self._env = self._build_env()
        self._objective = self._find_objective(self._env)
        self.exact_reference = self._resolve_reference(self._env, self._objective)
        for folder in (self.log_path, self.best_model_save_path):
            if folder is not None:
                os.makedirs(folder, exist_ok=True)
        if self.log_path is not None:
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(CSV_COLUMNS)
        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)
        super()._init_callback()

    def _build_env(self) -> gym.Env:
        env = self.eval_env
        if env is None:
            env = make_eval_env_like(self.training_env)
            self._owns_env = True
        elif not isinstance(env, gym.Env | VecEnv) and callable(env):
            env = env()
            self._owns_env = True
        return _single_env(env)

    def _find_objective(self, env: gym.Env) -> Objective:
        objective = getattr(self.model, "objective", None)
        if isinstance(objective, Objective) and hasattr(self.model, "choose_initial_stock"):
            return objective
        terminal = _find_terminal_reward(env)
        if terminal is None:
            raise TypeError(f"ObjectiveEvalCallback needs a DEtaN model, or any SB3 model on an env wrapped in "
                            f"rdo_gym.TerminalObjectiveReward; got a {type(self.model).__name__} on {env}")
        return terminal.objective

    def _resolve_reference(self, env: gym.Env, objective: Objective) -> ExactReference | None:
        reference = self.reference
        if reference is None:
            return None
        if not isinstance(reference, ExactReference):
            spec = env.unwrapped.spec
            if spec is None:
                raise ValueError("ObjectiveEvalCallback: the evaluation env has no registered id to look its "
                                 "reference up with; pass reference= an ExactReference")
            reference = reference(spec.id, objective)
            if reference is None:
                return None
            if not isinstance(reference, ExactReference):
                raise TypeError(f"ObjectiveEvalCallback: the reference callable returned {reference!r}, "
                                "not an ExactReference")
        if str(reference.objective) != str(objective):
            raise ValueError(f"ObjectiveEvalCallback: the reference is of {reference.objective}, but the agent "
                             f"is evaluated on {objective}")
        return reference

    @property
    def csv_path(self) -> str | None:
        """`log_path/objective_evaluations.csv`, or `None` without `log_path`."""
        return None if self.log_path is None else os.path.join(self.log_path, CSV_NAME)

    @property
    def objective(self) -> Objective | None:
        """The objective evaluated (known once training started)."""
        return self._objective

    # -- evaluation -------------------------------------------------------------------------------
    def _on_step(self) -> bool:
        if self.eval_freq is None or self.n_calls % self.eval_freq != 0:
            return True
        return self.evaluate()

    def evaluate(self) -> bool:
        """Run one evaluation now, log it and save the best model; `False` asks training to stop."""
        assert self._env is not None and self._objective is not None, "the callback was not initialized"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="the env's start state differs")
            evaluation = evaluate_objective(self.model, self._env, self.n_eval_episodes, seed=self.seed,
                                            deterministic=self.deterministic, initial_stock=self.initial_stock,
                                            stock_candidates=self.stock_candidates, confidence=self.confidence,
                                            n_bootstrap=self.n_bootstrap)
        timesteps = int(self.num_timesteps)
        self.evaluations.append((timesteps, evaluation))
        self.last_evaluation = evaluation
        oriented = evaluation.value if self._objective.higher_is_better else -evaluation.value
        self.last_mean_reward = oriented
        new_best = oriented > self.best_mean_reward
        if new_best:
            self.best_mean_reward = oriented
            self.best_value = evaluation.value
        normalized = math.nan if self.exact_reference is None else float(
            self.exact_reference.normalized(evaluation.value))
        self._log(evaluation, normalized, new_best)
        self._write_row(timesteps, evaluation, normalized, new_best)

        keep_going = True
        if new_best:
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model"))
            if self.callback_on_new_best is not None:
                keep_going = self.callback_on_new_best.on_step()
        if self.callback is not None:
            keep_going = keep_going and self._on_event()
        if self.on_evaluation is not None and self.on_evaluation(self, evaluation) is False:
            keep_going = False
        return keep_going

    def _log(self, evaluation: ObjectiveEvaluation, normalized: float, new_best: bool) -> None:
        record = self.logger.record
        record("eval/objective", evaluation.value)
        record("eval/objective_ci_low", evaluation.ci[0])
        record("eval/objective_ci_high", evaluation.ci[1])
        if not math.isnan(normalized):
            record("eval/normalized", normalized)
        record("eval/mean_return", float(evaluation.returns.mean()))
        mean_c0 = _mean_stock(evaluation)
        if not math.isnan(mean_c0):
            record("eval/mean_initial_stock", mean_c0)
        record("eval/mean_ep_length", float(evaluation.episode_lengths.mean()))
        if self.verbose >= 1:
            score = "" if math.isnan(normalized) else f", normalized {normalized:.3f}"
            stock = "" if math.isnan(mean_c0) else f", mean c0 {mean_c0:.3g}"
            best = " (new best)" if new_best else ""
            print(f"Objective eval num_timesteps={self.num_timesteps}: {evaluation.objective} = "
                  f"{evaluation.value:.4g} ({evaluation.confidence:.0%} CI {evaluation.ci[0]:.4g} .. "
                  f"{evaluation.ci[1]:.4g}){score}{stock}, {len(evaluation.returns)} episodes{best}")
        record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

    def _write_row(self, timesteps: int, evaluation: ObjectiveEvaluation, normalized: float, best: bool) -> None:
        if self.log_path is None:
            return
        mean_c0 = _mean_stock(evaluation)
        row = (timesteps, str(evaluation.objective), repr(evaluation.value), repr(evaluation.ci[0]),
               repr(evaluation.ci[1]), "" if math.isnan(normalized) else repr(normalized),
               repr(float(evaluation.returns.mean())), "" if math.isnan(mean_c0) else repr(mean_c0),
               repr(float(evaluation.episode_lengths.mean())), len(evaluation.returns), int(best))
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow(row)

    def _on_training_end(self) -> None:
        if self._env is not None and self._owns_env:
            self._env.close()  # built here: ours to close
            self._env = None

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        if self.callback is not None:
            self.callback.update_locals(locals_)
