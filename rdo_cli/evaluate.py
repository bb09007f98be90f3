"""``rdo evaluate``: Monte Carlo value of a saved run, with a confidence interval and the DP reference."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rdo_cli.exact import ExactReference, exact_reference, normalized_score, tabular_model
from rdo_cli.runs import RunConfig, check_objective_for_env, make_env, parse_objective
from rdo_gym import Objective

__all__ = ["RunEvaluation", "evaluate_run", "reference_for", "format_evaluation"]


@dataclass(frozen=True)
class RunEvaluation:
    """Returns of a run's greedy episodes and the objective's value on them."""

    label: str
    objective: Objective
    returns: np.ndarray
    value: float
    ci: tuple[float, float]
    initial_stocks: np.ndarray  # c0 of each episode (NaN for QR-DQN: no stock)
    training_stocks: tuple[float, float] | None = None  # DηN: the range of c0 it was trained on


def reference_for(config: RunConfig, objective: Objective) -> ExactReference | None:
    """The exact reference of a run's env for ``objective``, or ``None`` (no tabular model, gamma < 1)."""
    if config.gamma != 1.0:
        return None
    env = make_env(config, stock=False)
    try:
        mdp = tabular_model(env)
    finally:
        env.close()
    return None if mdp is None else exact_reference(mdp, objective)


def evaluate_run(config: RunConfig, model: Any, episodes: int, *, seed: int | None = 0,
                 objective: str | None = None, label: str = "") -> RunEvaluation:
    """Run ``episodes`` greedy episodes in a fresh env of the run; DηN picks its own ``c0``.

    ``objective`` overrides the run's (DηN acts on it; e.g. another target for a target-trained model).
    """
    from rdo_sb3 import bootstrap_ci, evaluate_objective, rollout_returns

    obj = parse_objective(objective or config.objective)
    env = make_env(config)
    check_objective_for_env(env, obj)
    try:
        if config.algo == "detan":
            model.set_objective(obj)
            report = evaluate_objective(model, env, episodes, seed=seed)
            returns, stocks, value, ci = report.returns, report.initial_stocks, report.value, report.ci
        else:
            returns = rollout_returns(model, env, episodes, gamma=config.gamma, seed=seed)
            stocks = np.full(episodes, math.nan)
            value = float(obj.value(returns)) + 0.0
            ci = bootstrap_ci(obj, returns, rng=seed)
    finally:
        env.close()
    trained_on = getattr(model, "stock_range", None) if config.algo == "detan" else None
    return RunEvaluation(label or config.algo, obj, returns, value, ci, stocks, trained_on)


def format_evaluation(ev: RunEvaluation, ref: ExactReference | None) -> str:
    """Lines for the terminal: value and CI, episodes, c0 choice, and the DP comparison if any."""
    better = "higher" if ev.objective.higher_is_better else "lower"
    lines = [f"objective        {ev.objective}  ({better} is better)",
             f"value            {ev.value:.4f}  (95% CI {ev.ci[0]:.4f} .. {ev.ci[1]:.4f}, {len(ev.returns)} episodes)",
             f"mean return      {ev.returns.mean():.4f}"]
    stocks = ev.initial_stocks[~np.isnan(ev.initial_stocks)]
    if stocks.size:
        values, counts = np.unique(stocks, return_counts=True)
        shown = ", ".join(f"{v:g} ({c})" for v, c in zip(values[:5], counts[:5], strict=False))
        lines.append(f"initial stock c0 {shown}{' ...' if values.size > 5 else ''}")
        rng = ev.training_stocks
        if rng is not None and (values.min() < rng[0] or values.max() > rng[1]):
            lines.append(f"warning          c0 outside the training range [{rng[0]:g}, {rng[1]:g}]: the network never "
                         "saw these stocks (retrain with --stock-range)")
        elif rng is not None and rng[0] == rng[1] and ev.objective.initial_stock is None:
            lines.append(f"warning          trained at the single stock {rng[0]:g}: no initial-stock search possible "
                         "(retrain with --stock-range)")
    if ref is not None:
        lines += [f"DP optimum       {ref.optimum:.4f}  (c0* = {ref.initial_stock:g})",
                  f"risk-neutral     {ref.risk_neutral:.4f}"]
        if ref.naive is not None:
            lines.append(f"naive (no stock) {ref.naive:.4f}")
        score = normalized_score(ev.value, ref)
        lines.append("normalized score n/a (the optimum and the risk-neutral value coincide)" if score is None else
                     f"normalized score {score:.3f}  ((value - risk-neutral) / (optimum - risk-neutral); 1 = optimal)")
    else:
        lines.append("no exact reference (the env has no tabular model, or gamma < 1)")
    return "\n".join(lines)
