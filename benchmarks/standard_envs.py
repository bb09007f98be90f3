"""DηN on standard Gymnasium envs (no exact optimum): Monte Carlo evaluation with 95% CIs.

For each setting (an env, its discount, the objective an agent is trained on and the objectives it
is evaluated on) and seed it trains, with the SAME discount `gamma` for the objective of every agent:

* ``detan``        DηN (`rdo_sb3.DEtaN`) on the stock-augmented env, initial stocks sampled
                   uniformly on the setting's stock range during training;
* ``detan-relabel`` the same with stock relabelling (``relabel_stocks=0.5``: half of the replayed
                   transitions get a fresh stock drawn from the stock range);
* ``detan-auto``   (only when asked for with ``--agents``) DηN with ``stock_range="auto"``: the stock range
                   and the stock scale estimated from the discounted returns of the ``learning_starts``
                   warm-up and widened during training (`rdo_sb3.stock_range`) instead of the setting's;
* ``detan-naive``  DηN in naive mode (``naive=True``: the objective applied to the return-to-go,
                   no stock), same hyperparameters;
* ``qrdqn``        sb3-contrib QR-DQN (maximizes the mean of the discounted return), same
                   hyperparameters, run as `rdo_sb3.FastQRDQN` (sb3-contrib's training loop with the
                   loss DηN uses: the same value and gradient, so equal compute per step); one run
                   serves every objective of the setting;
* ``detatqc``      (continuous-action settings) DηTQC (`rdo_sb3.DEtaTQC`) on the stock-augmented env, stocks
                   sampled on the setting's range and relabelled with probability 0.5;
* ``tqc``          (continuous-action settings) TQC maximizing the mean, same hyperparameters, run as
                   `rdo_sb3.FastTQC` (TQC with rdo's loss: equal compute per step); one run serves every
                   objective of the setting;
* ``ppo``          SB3 PPO on `rdo_gym.TerminalObjectiveReward` (reward 0, then ``f(c0 + G)`` at
                   the end, ``G`` discounted with the setting's gamma by the stock wrapper beneath),
                   initial stocks sampled on the same range. PPO's *own* discount is 1: the terminal
                   reward already is the objective of the gamma-discounted return, and maximizing it
                   undiscounted is what makes the terminal-reward route exact.

Every agent is then evaluated by Monte Carlo on ``--episodes`` episodes (seeds drawn from
``20_000 + seed``) on the objective of the discounted return ``G = sum_t gamma^t R_{t+1}`` (with
``gamma < 1`` a CVaR or a probability is one of the *discounted* return, not of the score Gymnasium
reports). Initial stocks: the objective's own ``c0`` (``target:g`` starts at ``-g``, ``prob:b`` at
``-b``); for CVaR DηN's learned outer search over the stock range, PPO's by Monte Carlo (each of
``--ppo-search`` evenly spaced candidates evaluated on ``--search-episodes`` separate episodes, the
best one then evaluated afresh; with ``--detan-search`` the stock agents are also evaluated that way, on
their own stock range, next to their learned search: rows ``AGENT (MC c0)``). Reported: the value with
its percentile-bootstrap 95% CI over episodes (per seed), and over seeds the mean with a Student-t 95%
interval; wall and CPU seconds of training and evaluation.

    python benchmarks/standard_envs.py --settings cartpole --agents detan --seeds 3
    python benchmarks/standard_envs.py --settings lunar --objectives cvar:0.1 --seeds 1 --episodes 150
    python benchmarks/standard_envs.py --settings lunar-continuous --agents detatqc tqc --seeds 3
    python benchmarks/standard_envs.py --resume --summarize-only --out OUT      # tables of the runs so far

Writes ``runs.jsonl`` (one line per finished run, as runs finish; ``--resume`` skips those),
``results.json`` and ``table.md`` to ``--out``. ``LunarLander-v3`` needs Box2D
(``pip install "rdo[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

AGENTS = ("detan", "detan-relabel", "detan-naive", "qrdqn", "ppo")
EXTRA_AGENTS = ("detan-auto", "detatqc", "tqc")
"""Agents run only when named with ``--agents``."""
ALL_AGENTS = (*AGENTS, *EXTRA_AGENTS)
CONTINUOUS_AGENTS = ("detatqc", "tqc", "ppo")
STOCK_DETAN = ("detan", "detan-relabel", "detan-auto", "detatqc")
"""The agents that choose a searched c0 themselves (learned search; by Monte Carlo with --detan-search)."""
"""The agents of a setting with continuous actions (``Setting.continuous``); the others need Discrete ones."""
MEAN_AGENTS = ("qrdqn", "tqc")
MC_SUFFIX = " (MC c0)"
"""Appended to a stock agent's name in the tables for its evaluation with the c0 chosen by Monte Carlo."""
"""The stock-free peers: they maximize the mean, and one run serves every objective of a setting."""

# Hyperparameters of the RL Baselines3 Zoo's QR-DQN for each env (shared by DηN, naive DηN and
# QR-DQN), with the changes noted: fewer quantiles and gradient steps where the CPU budget needs it.
CARTPOLE_QRDQN = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                      target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                      exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=25))
LUNAR_QRDQN = dict(learning_rate="lin_1.5e-3", batch_size=128, buffer_size=100_000, learning_starts=10_000,
                   target_update_interval=1, train_freq=256, gradient_steps=128, exploration_fraction=0.24,
                   exploration_final_eps=0.18, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=51))
ACROBOT_QRDQN = dict(learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
                     target_update_interval=250, train_freq=4, gradient_steps=2, exploration_fraction=0.12,
                     exploration_final_eps=0.1, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=25))
# PPO (the Zoo's settings, fewer parallel envs for short runs); gamma is always 1 (see above).
CARTPOLE_PPO = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, n_epochs=20, ent_coef=0.0,
                    learning_rate="lin_1e-3", clip_range="lin_0.2")
LUNAR_PPO = dict(n_envs=8, n_steps=256, batch_size=64, gae_lambda=0.98, n_epochs=4, ent_coef=0.01)
ACROBOT_PPO = dict(n_envs=8, n_steps=256, gae_lambda=0.94, n_epochs=4, ent_coef=0.0)
# The Zoo's TQC for LunarLanderContinuous (shared by DηTQC and TQC), with [256, 256] instead of [400, 300] and
# 25 quantiles per critic for the CPU budget.
LUNAR_TQC = dict(learning_rate="lin_7.3e-4", buffer_size=1_000_000, batch_size=256, tau=0.01, train_freq=1,
                 gradient_steps=1, learning_starts=10_000, policy_kwargs=dict(net_arch=[256, 256], n_quantiles=25))


@dataclass(frozen=True)
class Setting:
    """An env, the discount of its objectives, how the stock is presented, and the objectives.

    `trainings` maps each objective an agent is trained on to the objectives it is evaluated on
    (one DηN serves several targets or budgets: the utility is shared, only `c0` changes).
    """

    env_id: str
    gamma: float
    trainings: dict[str, tuple[str, ...]]
    stock_range: tuple[float, float]
    integer_stocks: bool
    stock_scale: float
    steps: int
    hyperparameters: dict[str, Any]
    ppo: dict[str, Any]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    targets: str = ""
    representation: str | None = None  # StockAugmentation's, when given ("raw" or "discounted")
    continuous: bool = False  # Box actions: DηTQC, TQC and PPO (hyperparameters are then TQC's)

    def make(self):
        import gymnasium as gym

        return gym.make(self.env_id, **self.env_kwargs)

    def make_stock_env(self, initial_stock: Any = None, stock_scale: float | None = None):
        """The env wrapped in `StockAugmentation` (flat), `c0` sampled on the stock range by default, the stock
        scaled by the setting's scale unless `stock_scale` is given."""
        from rdo_gym import StockAugmentation, UniformStock

        if initial_stock is None:
            initial_stock = UniformStock(*self.stock_range, integer=self.integer_stocks)
        extra = {} if self.representation is None else {"representation": self.representation}
        return StockAugmentation(self.make(), gamma=self.gamma, initial_stock=initial_stock, flatten=True,
                                 stock_scale=self.stock_scale if stock_scale is None else stock_scale, **extra)

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(o for evals in self.trainings.values() for o in evals)


SETTINGS: dict[str, Setting] = {
    # c0 = -g in [-350, -50]: every target the network serves; CartPole pays 1 per step, G <= 500.
    "cartpole": Setting("CartPole-v1", 1.0, {"target:100": ("target:100", "target:300")}, (-350, -50), True,
                        0.01, 100_000, CARTPOLE_QRDQN, CARTPOLE_PPO,
                        targets="mean over 3 seeds of E|G - g| <= 5% of g"),
    # Windy LunarLander: discounted returns (gamma 0.99) roughly in [-300, 300]; CVaR's c0 = -VaR is searched
    # there, prob:200's c0 is -200. One QR-DQN run serves both objectives.
    "lunar": Setting("LunarLander-v3", 0.99, {"cvar:0.1": ("cvar:0.1",), "prob:200": ("prob:200",)}, (-300, 300),
                     False, 0.01, 120_000, LUNAR_QRDQN, LUNAR_PPO,
                     env_kwargs=dict(enable_wind=True, wind_power=15.0, turbulence_power=1.5),
                     targets="DηN's value above QR-DQN's and naive DηN's, non-overlapping 95% CIs"),
    # The same with the bounded stock representation (scale * X_t and gamma^t instead of scale * C_t, which
    # grows like gamma^-t over LunarLander's up-to-1000-step episodes); for DηN only.
    "lunar-discounted": Setting("LunarLander-v3", 0.99, {"cvar:0.1": ("cvar:0.1",), "prob:200": ("prob:200",)},
                                (-300, 300), False, 0.01, 120_000, LUNAR_QRDQN, LUNAR_PPO,
                                env_kwargs=dict(enable_wind=True, wind_power=15.0, turbulence_power=1.5),
                                representation="discounted"),
    # The continuous-action lander, windy, gamma 0.99: DηTQC against TQC on the same settings.
    "lunar-continuous": Setting("LunarLanderContinuous-v3", 0.99, {"cvar:0.1": ("cvar:0.1",)}, (-300, 300), False,
                                0.01, 200_000, LUNAR_TQC, LUNAR_PPO,
                                env_kwargs=dict(enable_wind=True, wind_power=15.0, turbulence_power=1.5),
                                targets="DηTQC's CVaR above TQC's, non-overlapping 95% CIs", continuous=True),
    # Acrobot pays -1 per step until it swings up (truncated at 500): prob:-B = P(done within B steps).
    "acrobot": Setting("Acrobot-v1", 1.0, {"prob:-100": ("prob:-100",)}, (0, 500), True, 0.01, 50_000,
                       ACROBOT_QRDQN, ACROBOT_PPO,
                       targets="DηN's value above QR-DQN's and naive DηN's, non-overlapping 95% CIs"),
}

# Student-t 0.975 quantiles for 1..10 degrees of freedom (the 95% interval over seeds).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


@dataclass(frozen=True)
class Job:
    setting: str
    agent: str
    train_objective: str  # "mean" for QR-DQN
    seed: int
    steps: int
    episodes: int
    detan_search: bool = False  # also evaluate a stock agent's searched c0 chosen by Monte Carlo (--detan-search)


def _schedule(value: Any) -> Any:
    """`"lin_X"` (the Zoo's linear schedule from X to 0) as SB3's `LinearSchedule`; numbers pass."""
    if isinstance(value, str) and value.startswith("lin_"):
        from stable_baselines3.common.utils import LinearSchedule

        return LinearSchedule(float(value[4:]), 0.0, 1.0)
    return value


def _cpu_seconds() -> float:
    return time.process_time()


def make_agent(setting: Setting, job: Job):
    """The untrained model of `job` on its training env."""
    from stable_baselines3.common.env_util import make_vec_env

    from rdo_gym import TerminalObjectiveReward
    from rdo_sb3 import DEtaN

    params = {k: _schedule(v) for k, v in setting.hyperparameters.items()}
    if job.agent in ("detan", "detan-relabel"):
        return DEtaN("MlpPolicy", setting.make_stock_env(), objective=job.train_objective, gamma=setting.gamma,
                     seed=job.seed, relabel_stocks=0.5 if job.agent == "detan-relabel" else False, **params)
    if job.agent == "detan-auto":
        return DEtaN("MlpPolicy", setting.make_stock_env(), objective=job.train_objective, gamma=setting.gamma,
                     seed=job.seed, stock_range="auto", **params)
    if job.agent == "detan-naive":
        return DEtaN("MlpPolicy", setting.make(), objective=job.train_objective, naive=True, gamma=setting.gamma,
                     seed=job.seed, **params)
    if job.agent == "qrdqn":
        from rdo_sb3 import FastQRDQN

        return FastQRDQN("MlpPolicy", setting.make(), gamma=setting.gamma, seed=job.seed, **params)
    if job.agent == "detatqc":
        from rdo_sb3 import DEtaTQC

        return DEtaTQC("MlpPolicy", setting.make_stock_env(), objective=job.train_objective, gamma=setting.gamma,
                       seed=job.seed, relabel_stocks=0.5, **params)
    if job.agent == "tqc":
        from rdo_sb3 import FastTQC

        return FastTQC("MlpPolicy", setting.make(), gamma=setting.gamma, seed=job.seed, **params)
    if job.agent == "ppo":
        from stable_baselines3 import PPO

        ppo = {k: _schedule(v) for k, v in setting.ppo.items()}
        n_envs = ppo.pop("n_envs")
        env = make_vec_env(lambda: TerminalObjectiveReward(setting.make_stock_env(), job.train_objective),
                           n_envs=n_envs, seed=job.seed)
        return PPO("MlpPolicy", env, gamma=1.0, seed=job.seed, **ppo)
    raise ValueError(f"unknown agent {job.agent!r}; choose from {ALL_AGENTS}")


def evaluate(setting: Setting, job: Job, model, spec: str, search_candidates: int, search_episodes: int) -> dict:
    """Monte Carlo evaluation of one trained agent on objective `spec` (see the module doc)."""
    from rdo_gym import TerminalObjectiveReward, make_objective
    from rdo_sb3 import evaluate_objective, rollout_returns, search_initial_stock
    from rdo_sb3.evaluation import bootstrap_ci

    objective = make_objective(spec)
    seed = 20_000 + job.seed
    stocks: list[float] = []
    search: list[dict] = []
    mc_search = None
    if job.agent in MEAN_AGENTS:
        returns = rollout_returns(model, setting.make(), job.episodes, gamma=setting.gamma, seed=seed)
    elif job.agent == "ppo":
        if objective.searches_initial_stock:  # Monte Carlo outer search on separate episodes
            found = search_initial_stock(model, TerminalObjectiveReward(setting.make_stock_env(), objective),
                                         search_episodes, seed=30_000 + job.seed,
                                         stock_candidates=np.linspace(*setting.stock_range, search_candidates))
            search = [{"c0": float(c), "value": float(v)} for c, v in zip(found.candidates, found.values, strict=True)]
            c0 = found.initial_stock
        else:
            c0 = objective.initial_stock
        env = TerminalObjectiveReward(setting.make_stock_env(c0), objective)
        returns = evaluate_objective(model, env, job.episodes, seed=seed, n_bootstrap=2).returns
        stocks = [float(c0)]
    else:
        model.set_objective(objective)
        env = setting.make() if job.agent == "detan-naive" else setting.make_stock_env(
            stock_scale=model.stock_layout.scale)
        report = evaluate_objective(model, env, job.episodes, seed=seed, n_bootstrap=2)
        returns = report.returns
        stocks = sorted({float(c) for c in report.initial_stocks if not math.isnan(c)})
        if job.detan_search and objective.searches_initial_stock and job.agent != "detan-naive":
            # the same agent with c0 chosen like PPO's: by Monte Carlo on separate episodes, then evaluated afresh
            found = search_initial_stock(model, env, search_episodes, seed=30_000 + job.seed,
                                         stock_candidates=model.stock_candidates(search_candidates))
            again = evaluate_objective(model, env, job.episodes, seed=seed, initial_stock=found.initial_stock,
                                       n_bootstrap=2000)
            search = [{"c0": float(c), "value": float(v)} for c, v in zip(found.candidates, found.values, strict=True)]
            mc_search = {"c0": found.initial_stock, "value": again.value, "ci95": [float(x) for x in again.ci],
                         "mean_return": float(again.returns.mean()), "env_steps": found.env_steps,
                         "candidates": search}
    value = float(objective.value(returns)) + 0.0
    low, high = bootstrap_ci(objective, returns, 0.95, 2000, job.seed)
    return {"objective": spec, "value": value, "ci95": [float(low), float(high)], "mean_return": float(returns.mean()),
            "initial_stocks": stocks[:20], "ppo_c0_search": search if job.agent == "ppo" else [],
            "mc_search": mc_search, "returns": returns.tolist()}


def run_job(job: Job, search_candidates: int = 8, search_episodes: int = 30) -> dict:
    """Train one agent on one setting with one seed and evaluate it on the objectives it serves."""
    import torch

    torch.set_num_threads(1)
    setting = SETTINGS[job.setting]
    wall, cpu = time.perf_counter(), _cpu_seconds()
    model = make_agent(setting, job)
    model.learn(job.steps)
    train_wall, train_cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    specs = setting.objectives if job.agent in MEAN_AGENTS else setting.trainings[job.train_objective]
    wall, cpu = time.perf_counter(), _cpu_seconds()
    results = [evaluate(setting, job, model, spec, search_candidates, search_episodes) for spec in specs]
    auto = getattr(model, "auto_stock_range", None)
    estimate = None if auto is None or not auto.ready else auto.as_dict(model.objective)
    return {**asdict(job), "job": asdict(job), "stock_range_auto": estimate, "train_wall_s": train_wall,
            "train_cpu_s": train_cpu,
            "eval_wall_s": time.perf_counter() - wall, "eval_cpu_s": _cpu_seconds() - cpu,
            "load_average": os.getloadavg()[0], "results": results}


def jobs_for(settings: list[str], agents: list[str], seeds: list[int], steps: int | None, episodes: int,
             objectives: list[str] | None = None) -> list[Job]:
    """The runs requested: per setting, agent (those that fit the setting's actions), training objective (all,
    or those in `objectives`; QR-DQN and TQC have one, `"mean"`) and seed."""
    jobs = []
    for name in settings:
        setting = SETTINGS[name]
        for agent in agents:
            if (agent in CONTINUOUS_AGENTS) != setting.continuous and agent != "ppo":
                continue
            trains = ["mean"] if agent in MEAN_AGENTS else [o for o in setting.trainings
                                                         if objectives is None or o in objectives]
            for train in trains:
                jobs.extend(Job(name, agent, train, seed, steps or setting.steps, episodes) for seed in seeds)
    return jobs


def _job_key(job: dict) -> tuple:
    return (job["setting"], job["agent"], job["train_objective"], job["seed"], job["steps"], job["episodes"],
            job.get("detan_search", False))


def seed_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean over seeds and its Student-t 95% interval (NaN bounds for one seed)."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    t = _T975[min(len(v) - 1, len(_T975)) - 1] if len(v) - 1 <= len(_T975) else 1.96
    half = t * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def summarize(runs: list[dict]) -> list[dict]:
    """Per (setting, objective, agent): per-seed values with episode-bootstrap CIs, and over seeds."""
    from rdo_gym import make_objective

    rows = []
    for name in [s for s in SETTINGS if any(r["setting"] == s for r in runs)]:
        for spec in SETTINGS[name].objectives:
            for agent in ALL_AGENTS:
                mine = sorted((r for r in runs if r["setting"] == name and r["agent"] == agent),
                              key=lambda r: r["seed"])
                res = [(r, x) for r in mine for x in r["results"] if x["objective"] == spec]
                if not res:
                    continue
                mean, low, high = seed_interval([x["value"] for _, x in res])
                pooled = np.concatenate([np.asarray(x["returns"]) for _, x in res])
                rows.append({
                    "setting": name, "objective": spec, "agent": agent, "seeds": [r["seed"] for r, _ in res],
                    "steps": res[0][0]["steps"], "episodes": len(res[0][1]["returns"]),
                    "per_seed": [{"value": x["value"], "ci95": x["ci95"], "initial_stocks": x["initial_stocks"]}
                                 for _, x in res],
                    "mean": mean, "seed_ci95": [low, high],
                    "pooled_value": float(make_objective(spec).value(pooled)),
                    "mean_return": float(pooled.mean()),
                    "train_wall_s": float(np.median([r["train_wall_s"] for r, _ in res])),
                    "train_cpu_s": float(np.median([r["train_cpu_s"] for r, _ in res])),
                    "eval_wall_s": float(np.median([r["eval_wall_s"] for r, _ in res])),
                    "load_average": float(np.median([r["load_average"] for r, _ in res])),
                })
                searched = [(r, x["mc_search"]) for r, x in res if x.get("mc_search")]
                if searched:  # --detan-search: the same agents with the c0 chosen by Monte Carlo
                    mean, low, high = seed_interval([m["value"] for _, m in searched])
                    rows.append({**rows[-1], "agent": f"{agent}{MC_SUFFIX}", "seeds": [r["seed"] for r, _ in searched],
                                 "per_seed": [{"value": m["value"], "ci95": m["ci95"], "initial_stocks": [m["c0"]]}
                                              for _, m in searched],
                                 "mean": mean, "seed_ci95": [low, high], "pooled_value": math.nan,
                                 "mean_return": float(np.mean([m["mean_return"] for _, m in searched])),
                                 "search_env_steps": float(np.median([m["env_steps"] for _, m in searched]))})
    return rows


def _interval(row: dict) -> tuple[float, float]:
    """The interval a comparison uses: over seeds with 2+ seeds, else the episode bootstrap's."""
    if len(row["seeds"]) >= 2:
        return tuple(row["seed_ci95"])
    return tuple(row["per_seed"][0]["ci95"])


def verdicts(rows: list[dict]) -> list[str]:
    """The quality targets of each setting, as measured, for each DηN variant present."""
    from rdo_gym import TargetReturn, make_objective

    lines = []
    for name in [s for s in SETTINGS if any(r["setting"] == s for r in rows)]:
        for spec in SETTINGS[name].objectives:
            objective = make_objective(spec)
            get = {r["agent"]: r for r in rows if r["setting"] == name and r["objective"] == spec}
            for variant in [v + suffix for v in ("detan", "detan-relabel", "detan-auto", "detatqc")
                            for suffix in ("", MC_SUFFIX)]:
                detan = get.get(variant)
                if detan is None:
                    continue
                base = variant.removesuffix(MC_SUFFIX)
                label = {"detan": "DηN", "detan-relabel": "DηN (relabel)", "detan-auto": "DηN (auto range)",
                         "detatqc": "DηTQC"}[base] + (", c0 by Monte Carlo" if variant != base else "")
                if isinstance(objective, TargetReturn):
                    bound = 0.05 * abs(objective.target)
                    met = detan["mean"] <= bound and len(detan["seeds"]) >= 3
                    lines.append(f"{name} `{spec}`: {label} E|G - g| {detan['mean']:.2f} over {len(detan['seeds'])} "
                                 f"seed(s) (per seed {[round(p['value'], 2) for p in detan['per_seed']]}), target <= "
                                 f"{bound:g}: " + ("met" if met else "NOT met" + (
                                     " (fewer than 3 seeds)" if len(detan["seeds"]) < 3 else "")))
                    continue
                low, high = _interval(detan)
                for other in ("qrdqn", "detan-naive", "tqc", "ppo"):
                    if other not in get:
                        continue
                    other_low, other_high = _interval(get[other])
                    sign = 1 if objective.higher_is_better else -1
                    better = sign * (detan["mean"] - get[other]["mean"]) > 0
                    separate = low > other_high or high < other_low  # disjoint intervals
                    kind = "seeds" if len(detan["seeds"]) >= 2 and len(get[other]["seeds"]) >= 2 else "episodes"
                    lines.append(f"{name} `{spec}`: {label} {detan['mean']:.3f} vs {other} {get[other]['mean']:.3f}: "
                                 + ("above" if better else "NOT above")
                                 + (", 95% CIs (over " + kind + ") do not overlap" if separate else ", 95% CIs overlap")
                                 + (" (target met)" if better and separate and other != "ppo" else ""))
    return lines


def markdown(rows: list[dict]) -> str:
    lines = ["| setting | objective | agent | value (mean over seeds; 95% t-interval) | per seed: value [95% bootstrap "
             "CI over episodes] | mean G | c0 | steps | episodes | train wall s / CPU s (median) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = "" if math.isnan(r["seed_ci95"][0]) else f" [{r['seed_ci95'][0]:.3f}, {r['seed_ci95'][1]:.3f}]"
        per = "; ".join(f"{p['value']:.3f} [{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}]" for p in r["per_seed"])
        c0 = sorted({c for p in r["per_seed"] for c in p["initial_stocks"]})
        search = f" + {r['search_env_steps']:.0f} (c0 search)" if "search_env_steps" in r else ""
        c0_text = "—" if not c0 else (", ".join(f"{c:g}" for c in c0) if len(c0) <= 3 else f"{c0[0]:g} .. {c0[-1]:g}")
        lines.append(f"| {r['setting']} | `{r['objective']}` | {r['agent']} | {r['mean']:.3f}{ci} ({len(r['seeds'])} "
                     f"seeds) | {per} | {r['mean_return']:.1f} | {c0_text} | {r['steps']}{search} | {r['episodes']} | "
                     f"{r['train_wall_s']:.0f} / {r['train_cpu_s']:.0f} | {r['load_average']:.1f} |")
    text = "\n".join(lines).replace("E|G", "E\\|G")
    return text + "\n\n" + "\n".join(f"* {v}" for v in verdicts(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(ALL_AGENTS),
                        help=f"default: {' '.join(AGENTS)} ({', '.join(EXTRA_AGENTS)} only when named)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (first-seed, first-seed + 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--objectives", nargs="+", default=None,
                        help="only these training objectives (e.g. cvar:0.1); QR-DQN's run serves them all")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the setting's)")
    parser.add_argument("--episodes", type=int, default=200, help="Monte Carlo evaluation episodes")
    parser.add_argument("--ppo-search", type=int, default=8, help="PPO's c0 candidates for a searched c0 (CVaR)")
    parser.add_argument("--search-episodes", type=int, default=30, help="episodes per PPO c0 candidate")
    parser.add_argument("--detan-search", action="store_true",
                        help="also evaluate the stock agents (DηN, DηTQC) with a searched c0 (CVaR) chosen by Monte "
                        "Carlo like PPO's (--ppo-search candidates on the agent's stock range, --search-episodes "
                        "each; rdo_sb3.search_initial_stock), next to their learned search")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")
    parser.add_argument("--out", type=Path, default=Path("standard_envs_runs"))
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --out/runs.jsonl and only do the missing ones")
    parser.add_argument("--summarize-only", action="store_true",
                        help="with --resume: train nothing, summarize every run in --out/runs.jsonl")
    args = parser.parse_args(argv)
    for name, value in (("--seeds", args.seeds), ("--episodes", args.episodes), ("--jobs", args.jobs),
                        ("--ppo-search", args.ppo_search), ("--search-episodes", args.search_episodes)):
        if value < 1:
            parser.error(f"{name} must be a positive integer, got {value}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    known = {o for name in args.settings for o in SETTINGS[name].trainings}
    for spec in args.objectives or []:
        if spec not in known:
            parser.error(f"--objectives: {spec!r} is not a training objective of {args.settings}; choose from "
                         f"{sorted(known)}")
    if args.summarize_only and not args.resume:
        parser.error("--summarize-only needs --resume (it summarizes --out/runs.jsonl)")
    jobs = jobs_for(args.settings, args.agents, list(range(args.first_seed, args.first_seed + args.seeds)),
                    args.steps, args.episodes, args.objectives)
    if args.detan_search:
        jobs = [replace(job, detan_search=job.agent in STOCK_DETAN) for job in jobs]
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "runs.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] \
        if args.resume and log.exists() else []
    if not args.resume:
        log.write_text("")
    done = {_job_key(r["job"]) for r in runs}
    todo = [] if args.summarize_only else [job for job in jobs if _job_key(asdict(job)) not in done]
    print(f"{len(todo)} runs on {args.jobs} process(es) ({len(runs)} already in {log})", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_job, job, args.ppo_search, args.search_episodes) for job in todo]
        for future in as_completed(futures):
            run = future.result()
            res = ", ".join(f"{x['objective']}={x['value']:.3f} [{x['ci95'][0]:.3f}, {x['ci95'][1]:.3f}]"
                            for x in run["results"])
            print(f"[{time.perf_counter() - start:6.0f}s] {run['setting']} {run['agent']} ({run['train_objective']}) "
                  f"seed {run['seed']}: {res}; {run['steps']} steps in {run['train_wall_s']:.0f}s wall / "
                  f"{run['train_cpu_s']:.0f}s CPU, eval {run['eval_wall_s']:.0f}s, load {run['load_average']:.1f}",
                  flush=True)
            runs.append(run)
            with log.open("a") as f:
                f.write(json.dumps(run) + "\n")
    if not args.summarize_only:
        wanted = {_job_key(asdict(job)) for job in jobs}
        runs = [r for r in runs if _job_key(r["job"]) in wanted]
    rows = summarize(runs)
    table = markdown(rows)
    print(table)
    command = "python benchmarks/standard_envs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "results.json").write_text(json.dumps({"command": command, "summary": rows}))
    (args.out / "table.md").write_text(f"Command: `{command.strip()}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
