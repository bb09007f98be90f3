"""DηTQC learning quality on the continuous wealth benchmark, against the exact optimum, in one process.

For each setting (``rdo/WealthGoal-v0`` + objective) and seed it trains, with identical network, learning rate,
batch, buffer and step budget, gamma = 1:

* ``detatqc``                 DηTQC (stock in the observation, relabelling, its defaults: the entropy term in
                              every target atom as in TQC, no truncation, the smooth indicator of ``prob:`` at
                              T = 0.02 / stock_scale = 1 wealth unit);
* ``detatqc-entropy-actor``   the first defaults: entropy in the actor loss only, T = 5 wealth units;
* ``detatqc-entropy-target``  the same with TQC's entropy term in every target atom (``entropy_in="target"``);
* ``detatqc-truncate2``       entropy in the actor, T = 5, TQC's truncation (``top_quantiles_to_drop_per_net=2``);
* ``detatqc-T1``, ``detatqc-T20``  entropy in the actor, T = 1 and 20 wealth units (``prob:`` only);
* ``detatqc-target-T1``       entropy in the target, T = 1 (``prob:`` only);
* ``detatqc-T0.5``            the defaults with T = 0.5 wealth units (``prob:`` only);
* ``detatqc-entropy-4``       the defaults with SAC's target entropy -4 (default -1 per action dimension);
* ``detatqc-q51``             the defaults with 51 quantiles per critic (25 elsewhere);
* ``detatqc-ent-init0.02``    the defaults with the automatic entropy coefficient starting at 0.02 (= stock_scale)
                              instead of SB3's 1 (``ent_coef="auto_0.02"``; ``prob:`` only): the actor's score of
                              ``prob:`` is a probability, not a return, so SB3's initial 1 outweighs it for thousands
                              of steps while the coefficient is tuned down;
* ``detatqc-midpoint``        the defaults with the smooth indicator of ``prob:`` centred half a wealth unit below
                              the goal, ``sigmoid((c + G + 0.5) / T)`` (``prob:`` only; the objective's tolerance
                              set to 0.5, which leaves the exact indicator unchanged on the integer wealth grid):
                              centred at 0, the surrogate credits reaching the goal exactly with 1/2 and so prefers
                              overshooting it;
* ``detatqc-integer``         the defaults with integer stocks in ``[-40, 0]`` (initial and relabelled), as
                              ``rdo train rdo/WealthGoal-v0 --algo detatqc`` draws them;
* ``tqc``                     plain sb3-contrib TQC on the env's own reward (maximizes the mean, no stock);
* ``sac-terminal``, ``tqc-terminal``  SAC / TQC on ``rdo_gym.TerminalObjectiveReward`` (reward ``f(c0 + G)`` at
                              the end, the stock in the observation, ``c0`` the objective's or, for CVaR, the DP's).

Each agent is evaluated by Monte Carlo in the real env (``--episodes``); DηTQC with its own initial-stock choice
(CVaR: the learned outer search). The normalized score is ``(agent - risk-neutral) / (optimum - risk-neutral)``
(``rdo_envs.reference(...).normalized``; 1 = optimal, 0 = the risk-neutral policy's value).

    python benchmarks/continuous_learning.py --out docs/learning/continuous --steps 8000 \
        --agents detatqc detatqc-entropy-actor tqc sac-terminal                       # the headline table
    python benchmarks/continuous_learning.py --out docs/learning/continuous-decisions --steps 8000 \
        --agents detatqc-entropy-target detatqc-truncate2 detatqc-T1 detatqc-T20 detatqc-target-T1  # decisions
    python benchmarks/continuous_learning.py --out OUT --steps 16000 --settings prob30 \
        --agents detatqc detatqc-ent-init0.02                                         # entropy initialization
    python benchmarks/continuous_learning.py --agents detatqc tqc --seeds 1 --steps 3000   # smoke

Writes ``runs.jsonl`` (one line per finished run; reruns skip finished ones) and ``table.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ENV_ID = "rdo/WealthGoal-v0"
SETTINGS = {"prob30": "prob:30", "cvar0.5": "cvar:0.5"}
AGENTS = ("detatqc", "detatqc-entropy-actor", "detatqc-entropy-target", "detatqc-truncate2", "detatqc-T1",
          "detatqc-T20", "detatqc-target-T1", "detatqc-T0.5", "detatqc-entropy-4", "detatqc-q51",
          "detatqc-ent-init0.02", "detatqc-midpoint", "detatqc-integer",
          "tqc",
          "sac-terminal", "tqc-terminal")
OLD_T = 5.0  # the first default temperature, 0.1 / stock_scale, in wealth units
DETATQC_VARIANTS = {  # explicit settings (not relative to the defaults), so that the rows keep their meaning
    "detatqc": {},  # the defaults: entropy in the target, no truncation, T = 0.02 / stock_scale = 1 wealth unit
    "detatqc-entropy-actor": {"entropy_in": "actor", "surrogate_temperature": OLD_T},
    "detatqc-entropy-target": {"entropy_in": "target", "surrogate_temperature": OLD_T},
    "detatqc-truncate2": {"entropy_in": "actor", "surrogate_temperature": OLD_T, "top_quantiles_to_drop_per_net": 2},
    "detatqc-T1": {"entropy_in": "actor", "surrogate_temperature": 1.0},
    "detatqc-T20": {"entropy_in": "actor", "surrogate_temperature": 20.0},
    "detatqc-target-T1": {"entropy_in": "target", "surrogate_temperature": 1.0},
    # attempts at the prob: target, each one change from the defaults
    "detatqc-T0.5": {"entropy_in": "target", "surrogate_temperature": 0.5},
    "detatqc-entropy-4": {"entropy_in": "target", "target_entropy": -4.0},  # a less random policy (default -1)
    "detatqc-q51": {"entropy_in": "target", "policy_kwargs": {"n_quantiles": 51}},  # finer probabilities
    # the entropy coefficient's initial value in the units of a probability score (prob: only)
    "detatqc-ent-init0.02": {"entropy_in": "target", "ent_coef": "auto_0.02"},
    # the smooth indicator centred between the lattice points -1 and 0 (prob: only; wealth is on the integer grid)
    "detatqc-midpoint": {"entropy_in": "target", "indicator_offset": 0.5},
    # integer initial and relabelled stocks, as the CLI draws them on the benchmark (wealth is on the integer grid)
    "detatqc-integer": {"entropy_in": "target", "stock_integer": True},
}
# the temperature only acts on prob: objectives; the entropy initialization is an attempt at prob: only
PROB_ONLY = ("detatqc-T1", "detatqc-T20", "detatqc-target-T1", "detatqc-T0.5", "detatqc-ent-init0.02",
             "detatqc-midpoint")
TRAINING_STOCKS = (-40.0, 0.0)  # the benchmark's training range of stocks (covers c0 = -30 and CVaR's c0* = -32)


def _common(args) -> dict:
    return dict(learning_rate=args.lr, batch_size=args.batch, learning_starts=1000, buffer_size=args.steps,
                gamma=1.0, policy_kwargs=dict(net_arch=[args.width, args.width]))


def _c0(objective) -> float:
    import rdo_envs

    if objective.searches_initial_stock:
        return float(rdo_envs.reference(ENV_ID, objective).initial_stock)
    return float(objective.initial_stock)


def run(agent: str, setting: str, seed: int, args) -> dict:
    import gymnasium as gym
    import torch as th
    from sb3_contrib import TQC
    from stable_baselines3 import SAC

    import rdo_envs
    from rdo_gym import StockRange, TerminalObjectiveReward, UniformStock, make_objective
    from rdo_sb3 import DEtaTQC, evaluate_objective, rollout_returns

    th.set_num_threads(1)
    objective = make_objective(SETTINGS[setting])
    ref = rdo_envs.reference(ENV_ID, objective)
    common = _common(args)
    qk = dict(n_quantiles=25)
    start = time.perf_counter()
    if agent.startswith("detatqc"):
        variant = dict(DETATQC_VARIANTS[agent])
        policy_kwargs = {**common["policy_kwargs"], **qk, **variant.pop("policy_kwargs", {})}
        stocks = StockRange(*TRAINING_STOCKS, integer=variant.pop("stock_integer", False))
        agent_objective = objective
        if "indicator_offset" in variant:  # returns are integers here: 1{c + G >= -0.5} = 1{c + G >= 0}
            agent_objective = make_objective(SETTINGS[setting])
            agent_objective.tolerance = variant.pop("indicator_offset")
        env = rdo_envs.make_stock_env(ENV_ID, initial_stock=UniformStock(*TRAINING_STOCKS, integer=stocks.integer))
        model = DEtaTQC("MlpPolicy", env, objective=agent_objective, relabel_stocks=0.5, stock_range=stocks,
                        seed=seed, **{**common, "policy_kwargs": policy_kwargs}, **variant).learn(args.steps)
        train_s = time.perf_counter() - start
        report = evaluate_objective(model, rdo_envs.make_stock_env(ENV_ID), args.episodes, seed=10_000 + seed)
        value, c0 = report.value, float(np.mean(report.initial_stocks))
    elif agent == "tqc":
        common.pop("gamma")
        model = TQC("MlpPolicy", gym.make(ENV_ID), gamma=1.0, seed=seed,
                    **{**common, "policy_kwargs": {**common["policy_kwargs"], **qk}}).learn(args.steps)
        train_s = time.perf_counter() - start
        returns = rollout_returns(model, gym.make(ENV_ID), args.episodes, seed=10_000 + seed)
        value, c0 = float(objective.value(returns)), math.nan
    else:
        c0 = _c0(objective)

        def make():
            return TerminalObjectiveReward(rdo_envs.make_stock_env(ENV_ID, initial_stock=c0), objective)

        cls, extra = (SAC, {}) if agent == "sac-terminal" else (TQC, qk)
        model = cls("MlpPolicy", make(), seed=seed,
                    **{**common, "policy_kwargs": {**common["policy_kwargs"], **extra}}).learn(args.steps)
        train_s = time.perf_counter() - start
        value = evaluate_objective(model, make(), args.episodes, seed=10_000 + seed, initial_stock=c0).value
    return {"agent": agent, "setting": setting, "seed": seed, "objective": str(objective), "value": float(value),
            "normalized": float(ref.normalized(value)), "optimum": ref.optimum, "risk_neutral": ref.risk_neutral,
            "c0": c0, "steps": args.steps, "train_s": round(train_s, 1)}


def table(rows: list[dict]) -> str:
    lines = ["| setting | agent | seeds | value (mean) | normalized (mean; per seed) | c0 (mean) | train s |",
             "|---|---|---|---|---|---|---|"]
    keys = sorted({(r["setting"], r["agent"]) for r in rows}, key=lambda k: (k[0], AGENTS.index(k[1])))
    for setting, agent in keys:
        rs = sorted((r for r in rows if r["setting"] == setting and r["agent"] == agent), key=lambda r: r["seed"])
        norm = [round(r["normalized"], 3) for r in rs]
        lines.append(f"| {rs[0]['objective']} | {agent} | {len(rs)} | {np.mean([r['value'] for r in rs]):.3f} | "
                     f"{np.mean(norm):.3f}; {norm} | {np.nanmean([r['c0'] for r in rs]) if agent != 'tqc' else '-'} | "
                     f"{np.median([r['train_s'] for r in rs]):.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--episodes", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--out", type=Path, default=Path("docs/learning/continuous"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "runs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(r["agent"], r["setting"], r["seed"], r["steps"]) for r in rows}
    for seed in range(args.seeds):  # seeds outermost: a partial run still compares every agent
        for setting in args.settings:
            for agent in args.agents:
                if agent in PROB_ONLY and not SETTINGS[setting].startswith("prob"):
                    continue
                if (agent, setting, seed, args.steps) in done:
                    continue
                row = run(agent, setting, seed, args)
                print(json.dumps(row), flush=True)
                rows.append(row)
                with path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                (args.out / "table.md").write_text(table([r for r in rows if r["steps"] == args.steps]))


if __name__ == "__main__":
    main()
