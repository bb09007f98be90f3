"""`rdo evaluate`: Monte Carlo value of a saved run, with a confidence interval and the DP reference;
the result is also saved in the run folder (`evaluation.yml`: the numbers, `evaluation.csv`:
each episode's initial stock and return).

A run is an rdo run folder (`model.zip` + `run.yml`) or an RL Zoo run folder
(`logs/<algo>/<env>_<n>/`, [`rdo_cli.zoo_folder`][rdo_cli.zoo_folder]); [`load_any_run`][rdo_cli.evaluate.load_any_run]
tells them apart and [`evaluate_any`][rdo_cli.evaluate.evaluate_any] evaluates either."""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rdo_cli.envs import check_objective_for_env, reference_for, tabular_model, unreachable_warning
from rdo_cli.errors import CliError
from rdo_cli.formatting import num, plural
from rdo_cli.run_folder import Run, atomic_write, load_run
from rdo_cli.zoo_folder import ZooRun, is_zoo_folder, load_zoo_run
from rdo_gym import Objective
from rdo_gym.dp import ExactReference
from rdo_gym.presets import STOCK_AGENTS

if TYPE_CHECKING:
    from rdo_sb3.evaluation import InitialStockSearch

__all__ = ["RunEvaluation", "evaluate_run", "evaluate_zoo_run", "evaluate_any", "load_any_run", "run_env_id",
           "reference_of", "format_evaluation", "evaluate_command", "save_evaluation", "EVALUATION_FILE",
           "EPISODES_FILE", "NORMALIZED_NA"]

EVALUATION_FILE = "evaluation.yml"
EPISODES_FILE = "evaluation.csv"
NORMALIZED_NA = "n/a (optimum = risk-neutral)"
"""The normalized score when it is undefined (the optimum and the risk-neutral value coincide)."""


@dataclass(frozen=True)
class RunEvaluation:
    """Returns of a run's greedy episodes and the objective's value on them.

    Attributes:
        label: The run's label.
        objective: The objective evaluated.
        returns: The return of each episode.
        value: The objective's value of the returns.
        ci: Its bootstrap 95% confidence interval.
        initial_stocks: `c0` of each episode (NaN for QR-DQN: no stock).
        training_stocks: DηN: the range of `c0` it was trained on.
        search: the Monte Carlo search that chose `c0` (`--search-episodes`), if one did.
    """

    label: str
    objective: Objective
    returns: np.ndarray
    value: float
    ci: tuple[float, float]
    initial_stocks: np.ndarray
    training_stocks: tuple[float, float] | None = None
    search: InitialStockSearch | None = None


def _search_c0(model: object, env: object, objective: Objective, search_episodes: int,
               seed: int | None) -> InitialStockSearch | None:
    """`--search-episodes`: the searched objective's `c0` chosen by Monte Carlo
    ([`rdo_sb3.search_initial_stock`][rdo_sb3.evaluation.search_initial_stock]) on episodes of its own (seeds drawn
    from `seed + 1`, apart from the evaluation's); `None` when not asked for."""
    from rdo_sb3 import search_initial_stock

    if not search_episodes:
        return None
    if not hasattr(model, "choose_initial_stock") or getattr(model, "naive", False):
        raise CliError(f"--search-episodes {search_episodes}: only a stock-augmented DηN or DηTQC chooses its initial "
                       f"stock; this run's {type(model).__name__} does not")
    if not objective.searches_initial_stock:
        raise CliError(f"--search-episodes {search_episodes}: {objective} fixes its own initial stock "
                       f"c0 = {num(objective.initial_stock)}; only cvar: and meancvar: objectives search one")
    return search_initial_stock(model, env, search_episodes, seed=None if seed is None else seed + 1)


def evaluate_run(run: Run, episodes: int, *, seed: int | None = 0, objective: Objective | None = None,
                 label: str = "", search_episodes: int = 0) -> RunEvaluation:
    """Run `episodes` greedy episodes in the run's env; DηN picks its own `c0`.

    Args:
        run: The loaded run.
        episodes: The number of episodes.
        seed: The seed of the first episode.
        objective: Overrides the run's (DηN acts on it; e.g. another target for a target-trained model).
        label: The label of the result (default: the agent).
        search_episodes: Choose a searched `c0` (CVaR) by Monte Carlo, this many episodes per candidate (0: DηN's
            learned search).
    """
    from rdo_sb3 import bootstrap_ci, evaluate_objective, rollout_returns

    config, model, env = run.config, run.model, run.env
    obj = objective if objective is not None else config.objective
    check_objective_for_env(env, obj)
    search = None
    if config.algo in STOCK_AGENTS:
        model.set_objective(obj)
        search = _search_c0(model, env, obj, search_episodes, seed)
        report = evaluate_objective(model, env, episodes, seed=seed,
                                    initial_stock=None if search is None else search.initial_stock)
        returns, stocks, value, ci = report.returns, report.initial_stocks, report.value, report.ci
    else:
        _search_c0(model, env, obj, search_episodes, seed)  # refused: the agent has no initial stock
        returns = rollout_returns(model, env, episodes, gamma=config.gamma, seed=seed)
        stocks = np.full(episodes, math.nan)
        value = float(obj.value(returns)) + 0.0
        ci = bootstrap_ci(obj, returns, rng=seed)
    trained_on = _pair(getattr(model, "stock_range", None)) if config.algo in STOCK_AGENTS else None
    return RunEvaluation(label or config.algo, obj, returns, value, ci, stocks, trained_on, search)


def evaluate_zoo_run(run: ZooRun, episodes: int, *, seed: int | None = 0, objective: Objective | None = None,
                     label: str = "", search_episodes: int = 0) -> RunEvaluation:
    """Run `episodes` greedy episodes of an RL Zoo run: DηN at its own `c0` on its objective (or on
    `objective`), another agent on its terminal-reward env's objective, or on `objective` on a plain env.

    Args:
        run: The loaded Zoo run.
        episodes: The number of episodes.
        seed: The seed of the first episode.
        objective: Overrides DηN's objective; required for an agent on a plain env.
        label: The label of the result (default: the algo).
        search_episodes: As for [`evaluate_run`][rdo_cli.evaluate.evaluate_run] (DηN only).
    """
    from rdo_sb3 import bootstrap_ci, evaluate_objective, rollout_returns

    model, env = run.model, run.env
    trained_on = None
    if run.algo in STOCK_AGENTS or hasattr(model, "choose_initial_stock"):
        if objective is not None:
            check_objective_for_env(env, objective)
            model.set_objective(objective)
        search = _search_c0(model, env, model.objective, search_episodes, seed)
        report = evaluate_objective(model, env, episodes, seed=seed,
                                    initial_stock=None if search is None else search.initial_stock)
        trained_on = _pair(getattr(model, "stock_range", None))
        return RunEvaluation(label or run.algo, report.objective, report.returns, report.value, report.ci,
                             report.initial_stocks, trained_on, search)
    _search_c0(model, env, objective or run.objective, search_episodes, seed)  # refused: no initial stock
    if run.terminal_reward:
        if objective is not None and str(objective) != str(run.objective):
            raise CliError(f"-o {objective}: the run's env pays {run.objective} as its terminal reward, the only "
                           "objective this agent was trained for; evaluate without -o")
        report = evaluate_objective(model, env, episodes, seed=seed)
        return RunEvaluation(label or run.algo, report.objective, report.returns, report.value, report.ci,
                             report.initial_stocks)
    if objective is None:
        raise CliError(f"{run.folder}: a {run.algo} run on a plain env has no objective of its own; choose one "
                       "with -o SPEC (e.g. -o mean, -o cvar:0.1)")
    returns = rollout_returns(model, env, episodes, gamma=run.gamma, seed=seed)
    value = float(objective.value(returns)) + 0.0
    ci = bootstrap_ci(objective, returns, rng=seed)
    return RunEvaluation(label or run.algo, objective, returns, value, ci, np.full(episodes, math.nan))


def load_any_run(path: Path, *, seed: int = 0) -> Run | ZooRun:
    """An rdo run folder ([`load_run`][rdo_cli.run_folder.load_run]) or an RL Zoo run folder
    ([`load_zoo_run`][rdo_cli.zoo_folder.load_zoo_run]), or the model file in one.

    Args:
        path: The folder or model file.
        seed: The seed of a Zoo run's env.
    """
    return load_zoo_run(path, seed=seed) if is_zoo_folder(path) else load_run(path)


def evaluate_any(run: Run | ZooRun, episodes: int, *, seed: int | None = 0, objective: Objective | None = None,
                 label: str = "") -> RunEvaluation:
    """[`evaluate_run`][rdo_cli.evaluate.evaluate_run] or [`evaluate_zoo_run`][rdo_cli.evaluate.evaluate_zoo_run].

    Args:
        run: The loaded run.
        episodes: The number of episodes.
        seed: The seed of the first episode.
        objective: Evaluate on this objective instead of the run's.
        label: The label of the result.
    """
    if isinstance(run, ZooRun):
        return evaluate_zoo_run(run, episodes, seed=seed, objective=objective, label=label)
    return evaluate_run(run, episodes, seed=seed, objective=objective, label=label)


def run_env_id(run: Run | ZooRun) -> str:
    """The Gymnasium id of a run of either kind."""
    return run.env_id if isinstance(run, ZooRun) else run.config.env_id


def reference_of(run: Run | ZooRun, objective: Objective) -> ExactReference | None:
    """The exact reference of a run's env for `objective`
    ([`reference_for`][rdo_cli.envs.reference_for]), or `None`.

    Args:
        run: The loaded run.
        objective: The objective.
    """
    config = run.reference_config(objective) if isinstance(run, ZooRun) else run.config
    return reference_for(config, objective, run.env)


def _pair(stock_range: object) -> tuple[float, float] | None:
    """`(low, high)` of a model's stock range (a pair, or an object with `low`/`high`)."""
    if stock_range is None:
        return None
    if hasattr(stock_range, "low"):
        return float(stock_range.low), float(stock_range.high)
    low, high = stock_range
    return float(low), float(high)


def format_evaluation(ev: RunEvaluation, ref: ExactReference | None) -> str:
    """Lines for the terminal: value and CI, episodes, c0 choice, and the DP comparison if any.

    Args:
        ev: The evaluation.
        ref: The exact reference, if the env has one.
    """
    better = "higher" if ev.objective.higher_is_better else "lower"
    lines = [f"objective        {ev.objective}  ({better} is better)",
             f"value            {num(ev.value, '.4f')}  (95% CI {num(ev.ci[0], '.4f')} .. {num(ev.ci[1], '.4f')}, "
             f"{plural(len(ev.returns), 'episode')})",
             f"mean return      {num(ev.returns.mean(), '.4f')}"]
    stocks = ev.initial_stocks[~np.isnan(ev.initial_stocks)]
    if stocks.size:
        values, counts = np.unique(stocks, return_counts=True)
        shown = ", ".join(f"{num(v)} ({c})" for v, c in zip(values[:5], counts[:5], strict=False))
        lines.append(f"initial stock c0 {shown}{' ...' if values.size > 5 else ''}")
        rng = ev.training_stocks
        if rng is not None and (values.min() < rng[0] or values.max() > rng[1]):
            lines.append(f"warning          c0 outside the training range [{num(rng[0])}, {num(rng[1])}]: the network "
                         "never "
                         "saw these stocks (retrain with --stock-range)")
        elif rng is not None and rng[0] == rng[1] and ev.objective.searches_initial_stock:
            lines.append(f"warning          trained at the single stock {num(rng[0])}: no initial-stock search "
                         "possible (retrain with --stock-range)")
    if ev.search is not None:
        found = ev.search
        lines.append(f"c0 search        Monte Carlo, {plural(len(found.candidates), 'candidate')} x "
                     f"{plural(found.episodes, 'episode')} "
                     f"({plural(found.env_steps, 'env step')}): best c0 = {num(found.initial_stock)} "
                     f"(value {num(found.value, '.4f')} on the search's own episodes)")
    if ref is not None:
        lines += [f"DP optimum       {num(ref.optimum, '.4f')}  (c0* = {num(ref.initial_stock)})",
                  f"risk-neutral     {num(ref.risk_neutral, '.4f')}"]
        if ref.naive is not None:
            lines.append(f"naive (no stock) {num(ref.naive, '.4f')}")
        score = ref.normalized(ev.value)
        lines.append(f"normalized score {NORMALIZED_NA}" if math.isnan(score) else
                     f"normalized score {num(score, '.3f')}  ((value - risk-neutral) / (optimum - risk-neutral); "
                     "1 = optimal)")
    else:
        lines.append("no exact reference (the env has no tabular model, or gamma < 1)")
    return "\n".join(lines)


def _search_summary(ev: RunEvaluation) -> dict:
    """`{"c0_search": ...}` for an evaluation whose `c0` a Monte Carlo search chose, else `{}`."""
    found = ev.search
    if found is None:
        return {}
    return {"c0_search": {"initial_stock": found.initial_stock, "value": found.value,
                          "episodes_per_candidate": found.episodes, "env_steps": found.env_steps,
                          "candidates": [float(c) for c in found.candidates],
                          "values": [float(v) for v in found.values]}}


def _summary(path: Path, run: Run, ev: RunEvaluation, ref: ExactReference | None, seed: int) -> dict:
    config = run.config
    out = {"run": str(path), "env_id": config.env_id, "algo": config.algo, "objective": str(ev.objective),
           "episodes": len(ev.returns), "seed": seed, "value": ev.value, "ci95": [float(x) for x in ev.ci],
           "mean_return": float(ev.returns.mean()), "higher_is_better": ev.objective.higher_is_better,
           "initial_stocks": sorted({float(c) + 0.0 for c in ev.initial_stocks if c == c}),
           "steps_trained": config.steps_done, "status": config.status, **_search_summary(ev)}
    if ref is not None:
        score = ref.normalized(ev.value)
        out.update(optimum=ref.optimum, risk_neutral=ref.risk_neutral, naive=ref.naive,
                   normalized=None if math.isnan(score) else float(score))
    return out


def save_evaluation(folder: Path, summary: dict, ev: RunEvaluation) -> None:
    """Write `evaluation.yml` (the summary) and `evaluation.csv` (each episode) into `folder`,
    replacing an earlier evaluation's.

    Args:
        folder: The run folder.
        summary: The numbers (`rdo evaluate --json`'s).
        ev: The evaluation (its episodes).
    """
    import yaml

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["episode", "initial_stock", "return"])
            for i, (c, g) in enumerate(zip(ev.initial_stocks, ev.returns, strict=True)):
                writer.writerow([i, "" if c != c else float(c) + 0.0, float(g)])

    text = yaml.safe_dump(summary, sort_keys=False, allow_unicode=True)
    atomic_write(Path(folder) / EVALUATION_FILE, lambda tmp: tmp.write_text(text))
    atomic_write(Path(folder) / EPISODES_FILE, write_csv)


def evaluate_command(path: Path, *, episodes: int, seed: int, objective: Objective | None, as_json: bool,
                     save: bool = True, search_episodes: int = 0) -> str:
    """The output of `rdo evaluate`: text lines, or one JSON object.

    Args:
        path: The run folder (or its `model.zip`).
        episodes: Monte Carlo episodes.
        seed: The seed of the first episode.
        objective: Evaluate on this objective instead of the run's.
        as_json: One JSON object (`normalized` is `null` when undefined).
        save: Write `evaluation.yml` and `evaluation.csv` into the run folder (a read-only
            folder gives a warning on stderr, not an error).
        search_episodes: Choose a searched `c0` by Monte Carlo (`--search-episodes`; 0: the learned search).
    """
    if is_zoo_folder(path):
        return _evaluate_zoo_command(path, episodes=episodes, seed=seed, objective=objective, as_json=as_json,
                                     save=save, search_episodes=search_episodes)
    run = load_run(path)
    try:
        config = run.config
        if objective is not None:
            try:
                warning = unreachable_warning(objective, tabular_model(run.env))
            except Exception:  # the check is a courtesy
                warning = None
            if warning:
                print(f"rdo: warning: {warning}", file=sys.stderr)
        ev = evaluate_run(run, episodes, seed=seed, objective=objective, search_episodes=search_episodes)
        ref = reference_for(config, ev.objective, run.env)
        summary = _summary(path, run, ev, ref, seed)
    finally:
        run.close()
    if save:
        folder = path.parent if path.suffix == ".zip" else path
        try:
            save_evaluation(folder, summary, ev)
        except OSError as err:
            print(f"rdo: warning: the evaluation is not saved in {folder}: {err}", file=sys.stderr)
    if as_json:
        return json.dumps(summary, allow_nan=False)
    trained = f"trained {plural(config.steps_done, 'step')}"
    if config.status != "finished":
        trained += f" of {config.timesteps} ({config.status})"
    return f"{path}: {config.algo} on {config.env_id}, {trained} for {config.objective}\n" + format_evaluation(ev, ref)


def _evaluate_zoo_command(path: Path, *, episodes: int, seed: int, objective: Objective | None, as_json: bool,
                          save: bool, search_episodes: int = 0) -> str:
    run = load_zoo_run(path, seed=seed)
    try:
        ev = evaluate_zoo_run(run, episodes, seed=seed, objective=objective, search_episodes=search_episodes)
        ref = reference_of(run, ev.objective)
        summary = {"run": str(path), "kind": "rl-zoo", "model": str(run.model_path), "env_id": run.env_id,
                   "algo": run.algo, "objective": str(ev.objective), "episodes": len(ev.returns), "seed": seed,
                   "value": ev.value, "ci95": [float(x) for x in ev.ci], "mean_return": float(ev.returns.mean()),
                   "higher_is_better": ev.objective.higher_is_better,
                   "initial_stocks": sorted({float(c) + 0.0 for c in ev.initial_stocks if c == c}),
                   "steps_trained": run.steps_done, **_search_summary(ev)}
        if ref is not None:
            score = ref.normalized(ev.value)
            summary.update(optimum=ref.optimum, risk_neutral=ref.risk_neutral, naive=ref.naive,
                           normalized=None if math.isnan(score) else float(score))
    finally:
        run.close()
    if save:
        try:
            save_evaluation(run.folder, summary, ev)
        except OSError as err:
            print(f"rdo: warning: the evaluation is not saved in {run.folder}: {err}", file=sys.stderr)
    if as_json:
        return json.dumps(summary, allow_nan=False)
    where = ("the terminal reward's" if run.terminal_reward else "the agent's own" if run.algo in STOCK_AGENTS
             else "the plain env's")
    return (f"{path}: RL Zoo run of {run.algo} on {run.env_id} ({run.model_path.name}), trained "
            f"{plural(run.steps_done, 'step')}, for {ev.objective} at {where} initial stock\n"
            + format_evaluation(ev, ref))
