"""Hyperparameter search for DηN with Optuna: the search space, the trial's score and pruning on
the objective evaluated during training.

The pieces `rdo tune` is made of, usable from any Optuna script:

* [`sample_detan_params`][rdo_sb3.tuning.sample_detan_params]: DηN's search space (learning rate,
  quantiles, target-update interval, exploration, stock relabelling, the stock's scale in the
  observation, the network's width). Gamma is never tuned: it is the objective's discount.
* [`trial_score`][rdo_sb3.tuning.trial_score]: what a trial maximizes, the normalized score against an
  exact reference when one is known (0 at the risk-neutral policy, 1 at the optimum), else the objective's
  value oriented so that higher is better.
* [`PruningEvalCallback`][rdo_sb3.tuning.PruningEvalCallback]: an
  [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] that reports each evaluation's score to the
  trial and stops training when the pruner says so.
* [`run_trial`][rdo_sb3.tuning.run_trial]: one trial from sampling to score.

Example (a study of 5 short trials on a benchmark; `rdo tune` does this with storage, workers and a
report):

    import optuna, rdo_envs
    from rdo_sb3.tuning import run_trial

    base = rdo_envs.preset("rdo/CVaRGrid-v0")
    reference = rdo_envs.reference("rdo/CVaRGrid-v0", base.objective)

    def make_env(stock_scale):
        return rdo_envs.make_stock_env("rdo/CVaRGrid-v0", stock_scale=stock_scale)

    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: run_trial(trial, base, make_env, n_timesteps=3000, seed=trial.number,
                                           reference=reference).score, n_trials=5)

Needs `optuna` (`pip install "rdo[tune]"`); importing this module does not import it.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rdo_gym.dp import ExactReference
from rdo_gym.objectives import Objective
from rdo_gym.presets import Preset
from rdo_sb3.callbacks import ObjectiveEvalCallback
from rdo_sb3.evaluation import ObjectiveEvaluation

__all__ = ["NET_ARCHS", "TrialParams", "TrialResult", "sample_detan_params", "params_to_hyperparameters",
           "trial_score", "PruningEvalCallback", "run_trial"]

NET_ARCHS: dict[str, list[int]] = {"small": [64, 64], "medium": [128, 128], "large": [256, 256]}
"""The network sizes searched (`net_arch` of the policy): two hidden layers of 64, 128 or 256 units."""
_INSTALL_HINT = 'hyperparameter tuning needs optuna: pip install "rdo[tune]" (or pip install optuna)'


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return optuna


@dataclass(frozen=True)
class TrialParams:
    """The values one trial tries.

    Attributes:
        hyperparameters: Keyword arguments of [`DEtaN`][rdo_sb3.detan.DEtaN] (`policy_kwargs` a mapping), to be laid
            over a base preset's.
        stock_scale: The factor on the stock in the observation (a setting of the stock wrapper,
            not of the agent).
    """

    hyperparameters: dict[str, Any]
    stock_scale: float


def sample_detan_params(trial: Any) -> TrialParams:
    """DηN's search space, sampled from an Optuna trial.

    | parameter | range |
    |---|---|
    | `learning_rate` | 1e-4 .. 3e-3, log-uniform |
    | `policy_kwargs.n_quantiles` | 25, 51, 101 |
    | `target_update_interval` | 100, 250, 500, 1000, 2000 steps |
    | `exploration_fraction` | 0.05 .. 0.5 |
    | `exploration_final_eps` | 0.01 .. 0.2 |
    | `relabel_stocks` | 0, 0.25, 0.5, 0.75, 1 (probability of relabelling a replayed transition with a fresh stock) |
    | `stock_scale` | 0.02 .. 1, log-uniform |
    | `policy_kwargs.net_arch` | `small`, `medium`, `large` ([`NET_ARCHS`][rdo_sb3.tuning.NET_ARCHS]) |

    The Optuna parameter names are these names (`net_arch` and `n_quantiles` without the
    `policy_kwargs.` prefix; `net_arch` by its size name).

    Args:
        trial: An `optuna.Trial`.

    Returns:
        The [`TrialParams`][rdo_sb3.tuning.TrialParams].
    """
    learning_rate = trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True)
    n_quantiles = trial.suggest_categorical("n_quantiles", [25, 51, 101])
    target_update_interval = trial.suggest_categorical("target_update_interval", [100, 250, 500, 1000, 2000])
    exploration_fraction = trial.suggest_float("exploration_fraction", 0.05, 0.5)
    exploration_final_eps = trial.suggest_float("exploration_final_eps", 0.01, 0.2)
    relabel = trial.suggest_categorical("relabel_stocks", [0.0, 0.25, 0.5, 0.75, 1.0])
    stock_scale = trial.suggest_float("stock_scale", 0.02, 1.0, log=True)
    net_arch = trial.suggest_categorical("net_arch", list(NET_ARCHS))
    hyperparameters = {"learning_rate": learning_rate, "target_update_interval": target_update_interval,
                       "exploration_fraction": exploration_fraction, "exploration_final_eps": exploration_final_eps,
                       "relabel_stocks": _relabel(relabel),
                       "policy_kwargs": {"net_arch": list(NET_ARCHS[net_arch]), "n_quantiles": int(n_quantiles)}}
    return TrialParams(hyperparameters, stock_scale)


def _relabel(probability: float) -> bool | float:
    """`relabel_stocks` of a probability: `False` at 0, `True` at 1 (DηN's own forms), else the probability."""
    probability = float(probability)
    return False if probability == 0.0 else True if probability == 1.0 else probability


def params_to_hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """The agent's keyword arguments of a trial's Optuna parameters (`trial.params`), without `stock_scale`.

    Args:
        params: The sampled parameters by their Optuna names.
    """
    out = {k: v for k, v in params.items() if k not in ("stock_scale", "net_arch", "n_quantiles")}
    if "relabel_stocks" in out:
        out["relabel_stocks"] = _relabel(out["relabel_stocks"])
    kwargs = {}
    if "net_arch" in params:
        kwargs["net_arch"] = list(NET_ARCHS[params["net_arch"]])
    if "n_quantiles" in params:
        kwargs["n_quantiles"] = int(params["n_quantiles"])
    if kwargs:
        out["policy_kwargs"] = kwargs
    return out


def trial_score(value: float, objective: Objective, reference: ExactReference | None = None) -> float:
    """What a trial maximizes: `reference.normalized(value)` with a reference, else `value` oriented
    so that higher is better (`-value` for an objective to minimize, such as `target:G`).

    A reference whose optimum and risk-neutral value coincide gives NaN (the normalized score is
    undefined there); the raw oriented value is used instead.

    Args:
        value: The objective's value (e.g. `ObjectiveEvaluation.value`).
        objective: The objective.
        reference: The exact reference of the env and objective, or `None`.
    """
    if reference is not None:
        score = float(reference.normalized(value))
        if not math.isnan(score):
            return score
    return float(value) if objective.higher_is_better else -float(value)


class PruningEvalCallback(ObjectiveEvalCallback):
    """An [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] that reports each evaluation's
    [`trial_score`][rdo_sb3.tuning.trial_score] to an Optuna trial and stops training when `trial.should_prune()`;
    `pruned` then says so and the caller raises `optuna.TrialPruned` after `learn` returns (the model stays
    consistent).

    The step of each report is the evaluation's index (1, 2, ...), as in the RL Zoo, so that a pruner's
    warm-up and resources count evaluations; the timesteps are in `scores`.

    Args:
        trial: The `optuna.Trial`.
        *args: Passed to [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback].
        **kwargs: Passed to [`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] (`reference=` is used
            for the score too).
    """

    def __init__(self, trial: Any, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.pruned = False
        """Whether the pruner stopped the trial."""
        self.scores: list[tuple[int, float]] = []
        """`(timesteps, score)` of every evaluation."""

    def evaluate(self) -> bool:
        keep_going = super().evaluate()
        timesteps, evaluation = self.evaluations[-1]
        score = trial_score(evaluation.value, evaluation.objective, self.exact_reference)
        self.scores.append((timesteps, score))
        self.trial.report(score, len(self.scores))
        if self.trial.should_prune():
            self.pruned = True
            return False
        return keep_going


@dataclass
class TrialResult:
    """The outcome of [`run_trial`][rdo_sb3.tuning.run_trial].

    Attributes:
        score: The last evaluation's [`trial_score`][rdo_sb3.tuning.trial_score] (the trial's value).
        evaluation: The last evaluation (at the end of training).
        params: The values tried.
        preset: The base preset with the trial's hyperparameters and budget.
        seed: The model's seed.
        seconds: Wall time of the trial.
        scores: `(timesteps, score)` of every evaluation.
    """

    score: float
    evaluation: ObjectiveEvaluation
    params: TrialParams
    preset: Preset
    seed: int
    seconds: float
    scores: list[tuple[int, float]] = field(default_factory=list)


def run_trial(trial: Any, base: Preset, make_env: Callable[[float], gym.Env], *, n_timesteps: int, seed: int,
              n_evaluations: int = 4, eval_episodes: int = 200, eval_seed: int = 0,
              reference: ExactReference | None = None, log_path: str | None = None,
              sample: Callable[[Any], TrialParams] = sample_detan_params, device: str = "cpu") -> TrialResult:
    """One Optuna trial: sample, train DηN for `n_timesteps`, evaluate the objective `n_evaluations`
    times (evenly, the last at the end), report each score for pruning, and return the last one.

    Every evaluation of every trial plays the same `eval_episodes` episodes (`eval_seed`), so that
    the scores of the trials are comparable. The trial's seed, its objective value and normalized
    score are recorded as the trial's user attributes (`seed`, `value`, `normalized`).

    Args:
        trial: The `optuna.Trial`.
        base: The preset the sampled values are laid over (its objective, gamma, policy, other keys).
        make_env: `stock_scale -> env`: a fresh stock-augmented training env with that scale (the
            evaluation env is rebuilt like it).
        n_timesteps: Training steps of the trial.
        seed: The model's seed (distinct per trial, e.g. `base_seed + trial.number`).
        n_evaluations: Evaluations during training (the pruner's intermediate values), at least 1.
        eval_episodes: Episodes per evaluation.
        eval_seed: The seed of the evaluation episodes (the same for every trial).
        reference: The exact reference to normalize against (see [`trial_score`][rdo_sb3.tuning.trial_score]).
        log_path: Folder of the trial's `objective_evaluations.csv`, or `None`.
        sample: The search space (default [`sample_detan_params`][rdo_sb3.tuning.sample_detan_params]).
        device: The torch device.

    Returns:
        The [`TrialResult`][rdo_sb3.tuning.TrialResult].

    Raises:
        optuna.TrialPruned: When the pruner stops the trial (after its training is stopped).
    """
    optuna = _import_optuna()
    from rdo_sb3.factory import make_model

    if not (isinstance(n_evaluations, int) and n_evaluations >= 1):
        raise ValueError(f"n_evaluations must be a positive integer, got {n_evaluations!r}")
    if not (isinstance(n_timesteps, int) and n_timesteps >= n_evaluations):
        raise ValueError(f"n_timesteps must be an integer >= n_evaluations ({n_evaluations}), got {n_timesteps!r}")
    start = time.perf_counter()
    params = sample(trial)
    preset = base.with_overrides(n_timesteps=n_timesteps, **params.hyperparameters)
    trial.set_user_attr("seed", int(seed))
    env = make_env(params.stock_scale)
    eval_env = make_env(params.stock_scale)
    try:
        model = make_model(preset, env, seed=seed, device=device)
        callback = PruningEvalCallback(trial, eval_env, eval_freq=max(1, n_timesteps // n_evaluations),
                                       n_eval_episodes=eval_episodes, seed=eval_seed, reference=reference,
                                       log_path=log_path, verbose=0)
        with warnings.catch_warnings():  # an early agent's c0 often sits on the edge of its range: not news here
            warnings.filterwarnings("ignore", message=".*at the edge of the searched range")
            model.learn(n_timesteps, callback=callback)
            if not callback.pruned and (not callback.evaluations
                                        or callback.evaluations[-1][0] != model.num_timesteps):
                callback.evaluate()  # the final model's evaluation (n_timesteps not a multiple of the interval)
        if callback.pruned:
            last = callback.scores[-1]
            trial.set_user_attr("pruned_at", int(last[0]))
            trial.set_user_attr("normalized" if reference is not None else "score", float(last[1]))
            raise optuna.TrialPruned(f"pruned at {last[0]} steps (score {last[1]:.4g})")
    finally:
        env.close()
        eval_env.close()
    evaluation = callback.last_evaluation
    score = callback.scores[-1][1]
    trial.set_user_attr("value", float(evaluation.value))
    if reference is not None:
        normalized = float(reference.normalized(evaluation.value))
        trial.set_user_attr("normalized", None if math.isnan(normalized) else normalized)
    seconds = time.perf_counter() - start
    trial.set_user_attr("seconds", round(seconds, 2))
    return TrialResult(score, evaluation, params, preset, int(seed), seconds, list(callback.scores))
