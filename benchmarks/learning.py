"""DηN learning quality on the rdo benchmarks, against the exact DP optimum, in one run.

For each setting (benchmark + objective) and seed it trains, with the presets of
``rdo_envs/presets`` (``rdo_envs.preset``, built by ``rdo_sb3.make_model``; identical
hyperparameters and gamma = 1 for every agent):

* ``detan``          DηN acting on the objective with the stock (initial stocks sampled on the
                     benchmark's training range);
* ``detan-relabel``  the same with stock relabelling of replayed transitions;
* ``detan-naive``    DηN in naive mode (objective applied to the return-to-go, no stock);
* ``qrdqn``          plain sb3-contrib QR-DQN (maximizes the mean, no stock).

Each agent is evaluated by Monte Carlo in the real env (``--episodes`` episodes) with its own
initial-stock choice (CVaR: the learned outer search). The normalized score is
``(agent - risk-neutral) / (optimum - risk-neutral)`` (``rdo_envs.reference(...).normalized``,
both references from ``rdo_gym.dp``; 1 = optimal, 0 = no better than the risk-neutral policy; it
is direction-free).

    python benchmarks/learning.py                      # full: 3 seeds, presets' steps, 2 processes
    python benchmarks/learning.py --quick              # smoke: 1 seed, 3k steps, 200 episodes
    python benchmarks/learning.py --settings cvar0.1 --agents detan qrdqn --seeds 5
    python benchmarks/learning.py --settings homeostasis --agents detan --set kappa=0 --out OUT   # a variant
    python benchmarks/learning.py --settings meancvar0.1 --agents detan-relabel --mc-search 300 --out OUT

``--mc-search EPISODES`` chooses a searched c0 (CVaR, mean-CVaR) of the stock-augmented DηN agents by Monte
Carlo (``rdo_sb3.search_initial_stock``: each candidate's policy run for EPISODES episodes of its own) instead
of the learned outer search; the env steps it uses are reported next to the training steps.

Writes ``runs.jsonl`` (one line per finished run, as runs finish; ``--resume`` skips those), ``results.json``
and ``table.md`` to ``--out`` (default ``docs/learning``) and, with
matplotlib installed, the plot ``return_distributions.png`` (learned vs optimal vs risk-neutral).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

AGENTS = ("detan", "detan-relabel", "detan-naive", "qrdqn", "ppo-terminal")
STOCK_AGENTS = ("detan", "detan-relabel", "ppo-terminal")
"""The agents whose observation carries the stock."""


@dataclass(frozen=True)
class Setting:
    """A benchmark, the objective an agent is trained on, and the objectives it is evaluated on.

    External settings (``external=True``) are Gymnasium toy-text envs built by
    ``rdo_envs.make_external_env`` with ``env_kwargs``; their exact model is the env's own.
    """

    env_id: str
    train_objective: str
    eval_objectives: tuple[str, ...]
    env_kwargs: tuple[tuple[str, object], ...] = ()
    external: bool = False


SETTINGS: dict[str, Setting] = {
    "cvar0.1": Setting("rdo/CVaRGrid-v0", "cvar:0.1", ("cvar:0.1",)),
    "cvar0.25": Setting("rdo/CVaRGrid-v0", "cvar:0.25", ("cvar:0.25",)),
    # Mean-CVaR 0.5 E[G] + 0.5 CVaR_0.1(G): DP optimum -2.294 against -3.771 risk-neutral, c0* = 3.
    "meancvar0.1": Setting("rdo/CVaRGrid-v0", "meancvar:0.1:0.5", ("meancvar:0.1:0.5",)),
    # The mean itself (the optimum is the risk-neutral value 1.783: the table shows exact values).
    "mean": Setting("rdo/CVaRGrid-v0", "mean", ("mean",)),
    # One DηN serves every target: the utility -|x| is shared and only c0 = -g changes.
    "target": Setting("rdo/TargetGrid-v0", "target:0", ("target:-4", "target:0", "target:4", "target:8")),
    "homeostasis": Setting("rdo/Homeostasis-v0", "homeostasis:3:3", ("homeostasis:3:3",)),
    # Goal-based wealth management, the Discrete(5) twin of rdo/WealthGoal-v0 (rdo_envs.wealth).
    "wealth-goal": Setting("rdo/WealthGoalDiscrete-v0", "prob:30", ("prob:30",)),
    "wealth-cvar0.5": Setting("rdo/WealthGoalDiscrete-v0", "cvar:0.5", ("cvar:0.5",)),
    # The external track: Gymnasium's toy-text envs, gamma = 1, their TimeLimit as the horizon.
    "frozenlake4-prob": Setting("FrozenLake-v1", "prob:1", ("prob:1",), external=True),
    "frozenlake8-prob": Setting("FrozenLake-v1", "prob:1", ("prob:1",), (("map_name", "8x8"),), external=True),
    "cliff-target": Setting("CliffWalkingSlippery-v1", "target:-40", ("target:-40",), external=True),
    "cliff-cvar0.1": Setting("CliffWalkingSlippery-v1", "cvar:0.1", ("cvar:0.1",), external=True),
    "cliff-cvar0.3": Setting("CliffWalkingSlippery-v1", "cvar:0.3", ("cvar:0.3",), external=True),
    "blackjack-prob": Setting("Blackjack-v1", "prob:1", ("prob:1",), external=True),
    "blackjack-cvar0.25": Setting("Blackjack-v1", "cvar:0.25", ("cvar:0.25",), external=True),
    # Rainy Taxi, 30 steps: return 0 (a delivery after about 20 steps) is reachable; the DP optimum of
    # E|G - 0| is 0.771 against 5.355 for the risk-neutral policy (which delivers as fast as it can).
    "taxi-rainy-target": Setting("Taxi-v4", "target:0", ("target:0",), (("is_rainy", True), ("horizon", 30)),
                                 external=True),
}
RDO_SETTINGS = tuple(name for name, s in SETTINGS.items() if not s.external)
EXTERNAL_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.external)


@dataclass(frozen=True)
class Job:
    setting: str
    agent: str
    seed: int
    steps: int | None
    episodes: int
    save_dir: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    """Hyperparameters that replace the preset's for the DηN agents (``--set KEY=VALUE``)."""
    mc_search: tuple[int, int | None] = (0, None)
    """``(episodes per candidate, shortlist)`` of a Monte Carlo c0 search for searched objectives (CVaR,
    mean-CVaR) of the stock-augmented DηN agents (``--mc-search``); 0 episodes: the learned search."""


def _reference(setting: Setting, objective):
    import rdo_envs

    if setting.external:
        return rdo_envs.external_reference(setting.env_id, objective, **dict(setting.env_kwargs))
    return rdo_envs.reference(setting.env_id, objective)


def _env(setting: Setting, agent: str, objective: str, initial_stock: float | None = None):
    """The env an agent trains or is evaluated on: stock-augmented for DηN and the terminal-reward route
    (PPO, wrapped in ``TerminalObjectiveReward`` with the fixed ``initial_stock``), stock-free otherwise."""
    import gymnasium as gym

    import rdo_envs
    from rdo_envs.external import make_external_base
    from rdo_gym import TerminalObjectiveReward

    kwargs = dict(setting.env_kwargs)
    if agent not in STOCK_AGENTS:
        if setting.external:
            return make_external_base(setting.env_id, **kwargs)
        return gym.make(setting.env_id)
    stock = {} if initial_stock is None else {"initial_stock": initial_stock}
    if setting.external:  # relabelling draws stocks on the env's training range: sample c0 there too
        env = rdo_envs.make_external_env(setting.env_id, None if agent == "detan-relabel" else objective,
                                         **stock, **kwargs)
    else:
        env = rdo_envs.make_stock_env(setting.env_id, **stock)
    return TerminalObjectiveReward(env, objective) if agent == "ppo-terminal" else env


def _ppo(setting: Setting, objective, seed: int):
    """PPO on the terminal reward ``f(c0 + G)``, undiscounted, from one ``c0``: the objective's own, or for
    a searched ``c0`` (CVaR) the DP's ``c0*`` (what ``rdo solve`` prints)."""
    from stable_baselines3 import PPO

    c0 = _reference(setting, objective).initial_stock if objective.searches_initial_stock else objective.initial_stock
    env = _env(setting, "ppo-terminal", str(objective), float(c0))
    return PPO("MlpPolicy", env, gamma=1.0, n_steps=1024, batch_size=64, ent_coef=0.01, seed=seed), float(c0)


def run_job(job: Job) -> dict:
    """Train one agent on one setting with one seed and evaluate it on the setting's objectives."""
    import torch

    import rdo_envs
    from rdo_gym import make_objective
    from rdo_sb3 import evaluate_objective, make_model, rollout_returns, search_initial_stock

    torch.set_num_threads(1)
    setting = SETTINGS[job.setting]
    # Every agent at the preset's explicit gamma (1): the objectives are on the undiscounted return.
    preset = rdo_envs.preset(setting.env_id, "qrdqn" if job.agent == "qrdqn" else "detan")
    steps = job.steps or preset.n_timesteps
    start = time.perf_counter()
    ppo_c0 = math.nan
    if job.agent == "ppo-terminal":
        model, ppo_c0 = _ppo(setting, make_objective(setting.train_objective), job.seed)
    elif job.agent == "qrdqn":
        model = make_model(preset, _env(setting, job.agent, setting.train_objective), seed=job.seed)
    else:
        model = make_model(preset, _env(setting, job.agent, setting.train_objective),
                           objective=setting.train_objective, naive=job.agent == "detan-naive",
                           relabel_stocks=job.agent == "detan-relabel", seed=job.seed, **dict(job.overrides))
    model.learn(steps)
    train_seconds = time.perf_counter() - start
    if job.save_dir:
        model.save(Path(job.save_dir) / f"{job.setting}-{job.agent}-seed{job.seed}.zip")

    results = []
    search_episodes, shortlist = job.mc_search
    for spec in setting.eval_objectives:
        objective = make_objective(spec)
        ref = _reference(setting, objective)
        mc_search = None
        eval_seed = 10_000 + job.seed
        if job.agent == "qrdqn":
            returns = rollout_returns(model, _env(setting, job.agent, spec), job.episodes, seed=eval_seed)
            stocks = np.full(job.episodes, math.nan)
        elif job.agent == "ppo-terminal":  # trained on one objective (its terminal reward) from one c0
            report = evaluate_objective(model, _env(setting, job.agent, spec, ppo_c0), job.episodes,
                                        seed=eval_seed, n_bootstrap=200)
            returns, stocks = report.returns, report.initial_stocks
        else:
            model.set_objective(objective)
            chosen = None
            if search_episodes and objective.searches_initial_stock and job.agent in ("detan", "detan-relabel"):
                # c0 by Monte Carlo on episodes of their own (seeds apart from the evaluation's)
                found = search_initial_stock(model, _env(setting, job.agent, spec), search_episodes,
                                             seed=20_000 + job.seed, shortlist=shortlist)
                chosen = found.initial_stock
                mc_search = {"initial_stock": chosen, "env_steps": found.env_steps,
                             "candidates": found.candidates.tolist(), "values": found.values.tolist()}
            report = evaluate_objective(model, _env(setting, job.agent, spec), job.episodes, seed=eval_seed,
                                        initial_stock=chosen, n_bootstrap=200)
            returns, stocks = report.returns, report.initial_stocks
        value = float(objective.value(returns))
        # Diagnostic for searched initial stocks (CVaR): the same policy started at the DP's c0*
        # separates the learned outer search from the learned policy (evaluation only).
        at_star = math.nan
        if objective.searches_initial_stock and job.agent in ("detan", "detan-relabel"):
            fixed = evaluate_objective(model, _env(setting, job.agent, spec), job.episodes,
                                       seed=eval_seed, initial_stock=ref.initial_stock, n_bootstrap=2)
            at_star = float(objective.value(fixed.returns))
        c0s = [c for c in stocks if not math.isnan(c)]
        exact = exact_learned_value(model, setting, job.agent, objective,
                                    float(np.median(c0s)) if c0s else math.nan)
        results.append({
            "objective": spec,
            "value": value,
            "exact_value": exact,
            "exact_normalized": ref.normalized(exact),
            "exact_fraction_of_optimum": exact / ref.optimum if ref.optimum else math.nan,
            "stderr": _bootstrap_stderr(objective, returns, job.seed),
            "optimum": ref.optimum,
            "risk_neutral": ref.risk_neutral,
            "normalized": ref.normalized(value),
            "mean_return": float(returns.mean()),
            "initial_stocks": sorted({float(c) + 0.0 for c in stocks if not math.isnan(c)}),
            "dp_initial_stock": ref.initial_stock,
            "normalized_at_dp_initial_stock": ref.normalized(at_star),
            "returns": returns.tolist(),
            "mc_search": mc_search,
        })
    return {**asdict(job), "job": asdict(job), "steps": steps, "train_seconds": train_seconds, "results": results}


def exact_learned_value(model, setting: Setting, agent: str, objective, initial_stock: float) -> float:
    """Exact objective value of the agent's greedy policy, from the benchmark's tabular model.

    The greedy action at every reachable ``(state, stock, t)`` is read from the network (the
    observation is ``env.observation_at(state, t)``, plus the scaled stock where the training env's
    layout puts it) and the law of ``G`` is propagated exactly by :func:`rdo_gym.dp.evaluate`: no Monte
    Carlo noise. ``initial_stock`` is the agent's own ``c0`` (ignored by the stock-free agents).
    """
    import rdo_envs
    from rdo_envs.external import make_external_base
    from rdo_gym.dp import evaluate
    from rdo_sb3 import read_stock_layout

    if setting.external:
        base = make_external_base(setting.env_id, **dict(setting.env_kwargs))
    else:
        base = rdo_envs.env_class(setting.env_id)()
    layout = read_stock_layout(_env(setting, "detan", str(objective), 0.0)) if agent in STOCK_AGENTS else None
    cache: dict[tuple[int, float, int], int] = {}

    def policy(state: int, stock: float, t: int) -> int:
        key = (state, stock if layout is not None else 0.0, t)
        if key not in cache:
            obs = base.observation_at(state, t)
            if layout is not None:  # the stock where the training env's wrapper put it
                obs = layout.with_stocks(np.append(obs, np.float32(0.0)), [stock])[0]
            cache[key] = int(model.predict(obs, deterministic=True)[0])
        return cache[key]

    c0 = initial_stock if layout is not None else None
    return float(evaluate(base.model, policy, objective, initial_stock=c0).value)


def _job_key(job: dict) -> tuple:
    """What identifies a run for ``--resume``: setting, agent, seed, requested steps, episodes, overrides and the
    Monte Carlo c0 search."""
    overrides = tuple(tuple(pair) for pair in job.get("overrides", ()))
    mc_search = tuple(job.get("mc_search", (0, None)))
    return job["setting"], job["agent"], job["seed"], job["steps"], job["episodes"], repr(overrides), repr(mc_search)


def parse_override(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``, the value read as YAML (``kappa=0``, ``policy_kwargs={n_quantiles: 101}``)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier() or key in ("gamma", "seed", "objective", "naive", "relabel_stocks"):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a DηN hyperparameter (not gamma, seed, "
                                         f"objective, naive or relabel_stocks: the agents set those), got {text!r}")
    return key, yaml.safe_load(value)


def _bootstrap_stderr(objective, returns: np.ndarray, seed: int, n: int = 200) -> float:
    rng = np.random.default_rng(seed)
    samples = returns[rng.integers(0, len(returns), size=(n, len(returns)))]
    return float(np.std([objective.value(row) for row in samples]))


def summarize(runs: list[dict]) -> list[dict]:
    """Per (setting, agent): the mean over seeds of each objective's value and normalized score."""
    rows = []
    keys = sorted({(r["setting"], r["agent"]) for r in runs}, key=lambda k: (k[0], AGENTS.index(k[1])))
    for setting, agent in keys:
        mine = [r for r in runs if r["setting"] == setting and r["agent"] == agent]
        per_objective = {}
        for res in (x for r in mine for x in r["results"]):
            per_objective.setdefault(res["objective"], []).append(res)
        values = {o: np.array([x["value"] for x in xs]) for o, xs in per_objective.items()}
        norms = {o: np.array([x["normalized"] for x in xs]) for o, xs in per_objective.items()}
        at_star = {o: np.array([x.get("normalized_at_dp_initial_stock", math.nan) for x in xs])
                   for o, xs in per_objective.items()}
        exact = {o: np.array([x.get("exact_normalized", math.nan) for x in xs]) for o, xs in per_objective.items()}
        exact_values = {o: np.array([x.get("exact_value", math.nan) for x in xs]) for o, xs in per_objective.items()}
        chosen = {o: sorted({c for x in xs for c in x["initial_stocks"]}) for o, xs in per_objective.items()}
        first = {o: xs[0] for o, xs in per_objective.items()}
        rows.append({
            "setting": setting, "agent": agent, "seeds": len(mine),
            "steps": mine[0]["steps"],
            "train_seconds": float(np.median([r["train_seconds"] for r in mine])),
            "objectives": {o: {"value_mean": float(v.mean()),
                               "value_ci95": _ci95(v),
                               "normalized_mean": float(norms[o].mean()),
                               "normalized_per_seed": norms[o].round(3).tolist(),
                               "normalized_at_dp_c0_mean": float(at_star[o].mean()),
                               "exact_normalized_mean": float(exact[o].mean()),
                               "exact_normalized_per_seed": exact[o].round(3).tolist(),
                               "exact_value_mean": float(exact_values[o].mean()),
                               "exact_value_per_seed": exact_values[o].round(4).tolist(),
                               "initial_stocks": chosen[o],
                               "search_env_steps": _search_steps(per_objective[o]),
                               "optimum": first[o]["optimum"], "risk_neutral": first[o]["risk_neutral"]}
                           for o, v in values.items()},
        })
    return rows


def _search_steps(results: list[dict]) -> int | None:
    """Median env steps of the Monte Carlo c0 searches of these results (None without one)."""
    steps = [x["mc_search"]["env_steps"] for x in results if x.get("mc_search")]
    return int(np.median(steps)) if steps else None


def _ci95(values: np.ndarray) -> float:
    """Half-width of the normal 95% confidence interval of the mean over seeds (NaN for one seed)."""
    return float(1.96 * values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan


def markdown(rows: list[dict]) -> str:
    lines = ["| setting | agent | objective | value (mean ± 95% CI over seeds) | DP optimum | risk-neutral | "
             "normalized score (mean; per seed) | exact normalized of the greedy policy (mean; per seed) | "
             "normalized at DP c0 | chosen c0 | steps | train s (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for obj, o in row["objectives"].items():
            ci = "" if math.isnan(o["value_ci95"]) else f" ± {o['value_ci95']:.3f}"
            search = "" if o.get("search_env_steps") is None else f" + {o['search_env_steps']} (c0 search)"
            lines.append(
                f"| {row['setting']} | {row['agent']} | `{obj}` | {o['value_mean']:.3f}{ci} | {o['optimum']:.3f} | "
                f"{o['risk_neutral']:.3f} | {o['normalized_mean']:.3f}; {o['normalized_per_seed']} | "
                f"{o.get('exact_normalized_mean', math.nan):.3f}; {o.get('exact_normalized_per_seed', [])} | "
                f"{o['normalized_at_dp_c0_mean']:.3f} | {o['initial_stocks']} | "
                f"{row['steps']}{search} | {row['train_seconds']:.0f} |")
    target_rows = [r for r in rows if r["setting"] == "target"]
    if target_rows:
        lines += ["", "| target-return agent | mean over targets of E\\|G - g\\| | DP optimum (mean) | gap |",
                  "|---|---|---|---|"]
        for row in target_rows:
            agent_mean = np.mean([o["value_mean"] for o in row["objectives"].values()])
            opt_mean = np.mean([o["optimum"] for o in row["objectives"].values()])
            lines.append(f"| {row['agent']} | {agent_mean:.3f} | {opt_mean:.3f} | {agent_mean - opt_mean:.3f} |")
    return "\n".join(lines + ["", pivot(rows)])


def pivot(rows: list[dict]) -> str:
    """Mean normalized score (over seeds, and over objectives within a setting) per setting and agent:
    Monte Carlo, then exact (the greedy policy evaluated on the benchmark's model)."""
    agents = [a for a in AGENTS if any(r["agent"] == a for r in rows)]
    lines = ["| setting | " + " | ".join(agents) + " |", "|---" * (len(agents) + 1) + "|"]
    for setting in [s for s in SETTINGS if any(r["setting"] == s for r in rows)]:
        cells = []
        for agent in agents:
            row = next((r for r in rows if r["setting"] == setting and r["agent"] == agent), None)
            if row is None:
                cells.append("—")
                continue
            objectives = row["objectives"].values()
            score = np.mean([o["normalized_mean"] for o in objectives])
            exact = np.mean([o.get("exact_normalized_mean", math.nan) for o in objectives])
            if math.isnan(exact):  # the optimum is the risk-neutral value: no normalized score, show the values
                values = "; ".join(f"{o.get('exact_value_mean', math.nan):.4f} (optimum {o['optimum']:.4f})"
                                   for o in objectives)
                cells.append(f"exact {values} ({row['seeds']} seeds)")
            else:
                cells.append(f"{score:.3f} / exact {exact:.3f} ({row['seeds']} seeds)")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    """Return-distribution CDFs: learned agents (first seed) vs DP optimum vs risk-neutral, per objective."""
    from rdo_envs.plots import Panel, save_return_plots
    from rdo_gym import TargetReturn, make_objective

    panels = []
    for setting, spec in sorted({(r["setting"], res["objective"]) for r in runs for res in r["results"]}):
        env_id = SETTINGS[setting].env_id
        objective = make_objective(spec)
        ref = _reference(SETTINGS[setting], objective)
        samples = {}
        for agent in AGENTS:
            run = next((r for r in runs if r["setting"] == setting and r["agent"] == agent), None)
            if run is not None:
                samples[f"{agent} (seed {run['seed']})"] = next(
                    x["returns"] for x in run["results"] if x["objective"] == spec)
        target = objective.target if isinstance(objective, TargetReturn) else None
        panels.append(Panel(f"{env_id.split('/')[-1]}  {spec}", exact=ref.distributions, samples=samples,
                            vline=target, vline_label="target" if target is not None else "", objective=objective))
    try:
        print(f"wrote {save_return_plots(panels, path)}")
    except ImportError as err:
        print(f"no plot: {err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (first-seed, first-seed + 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the preset's)")
    parser.add_argument("--episodes", type=int, default=2000, help="Monte Carlo evaluation episodes")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 3000 steps, 200 episodes")
    parser.add_argument("--out", type=Path, default=Path("docs/learning"))
    parser.add_argument("--save-models", action="store_true", help="also save each trained model to --out/models")
    parser.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[],
                        metavar="KEY=VALUE", help="replace a preset hyperparameter of the DηN agents (repeatable; "
                        "the value is read as YAML); use a separate --out per variant")
    parser.add_argument("--mc-search", type=int, default=0, metavar="EPISODES",
                        help="choose a searched c0 (CVaR, mean-CVaR) of the stock-augmented DηN agents by Monte Carlo, "
                        "EPISODES episodes per candidate (rdo_sb3.search_initial_stock); 0: the learned search")
    parser.add_argument("--mc-shortlist", type=int, default=None, metavar="K",
                        help="with --mc-search: only the K candidates with the best learned values")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --out/runs.jsonl and only do the missing ones")
    parser.add_argument("--summarize-only", action="store_true",
                        help="with --resume: train nothing, write the tables and plot of the runs already there")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.episodes = 1, args.steps or 3000, min(args.episodes, 200)
    save_dir = None
    if args.save_models:
        save_dir = str(args.out / "models")
        os.makedirs(save_dir, exist_ok=True)
    overrides = tuple(args.overrides)
    if args.mc_search < 0 or (args.mc_shortlist is not None and args.mc_shortlist < 1):
        parser.error(f"--mc-search takes episodes >= 0 and --mc-shortlist K >= 1, got {args.mc_search} and "
                     f"{args.mc_shortlist}")
    mc_search = (args.mc_search, args.mc_shortlist if args.mc_search else None)
    jobs = [Job(s, a, seed, args.steps, args.episodes, save_dir, overrides if a.startswith("detan") else (),
                mc_search if a in ("detan", "detan-relabel") else (0, None))
            for seed in range(args.first_seed, args.first_seed + args.seeds)
            for s in args.settings for a in args.agents]
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"  # one finished run per line, written as runs finish
    runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] \
        if args.resume and log.exists() else []
    if not args.resume:
        log.write_text("")
    done = {_job_key(r["job"]) for r in runs}
    todo = [job for job in jobs if _job_key(asdict(job)) not in done]
    if args.summarize_only:
        if not args.resume:
            parser.error("--summarize-only needs --resume (it summarizes --out/runs.jsonl)")
        print(f"summarizing only; {len(todo)} requested runs are missing: "
              + ", ".join(f"{j.setting}/{j.agent}/seed {j.seed}" for j in todo), flush=True)
        todo = []
    print(f"{len(todo)} runs on {args.jobs} process(es) ({len(jobs) - len(todo)} already in {log})", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for future in as_completed([pool.submit(run_job, job) for job in todo]):
            run = future.result()
            res = ", ".join(f"{x['objective']}={x['value']:.3f} (norm {x['normalized']:.2f})" for x in run["results"])
            print(f"[{time.perf_counter() - start:6.0f}s] {run['setting']:12s} {run['agent']:14s} seed {run['seed']}: "
                  f"{res}; trained {run['steps']} steps in {run['train_seconds']:.0f}s", flush=True)
            runs.append(run)
            with log.open("a") as f:
                f.write(json.dumps(run) + "\n")
    wanted = {_job_key(asdict(job)) for job in jobs}
    runs = [r for r in runs if _job_key(r["job"]) in wanted]
    rows = summarize(runs)
    table = markdown(rows)
    print(table)
    command = "python benchmarks/learning.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "results.json").write_text(json.dumps({"command": command, "summary": rows, "runs": runs}))
    (args.out / "table.md").write_text(f"Command: `{command.strip()}`\n\n{table}\n")
    plot(runs, args.out / "return_distributions.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
