"""Env-steps/s of DηTQC against sb3-contrib TQC with identical settings, in one run.

**Agents**: sb3-contrib ``TQC`` (its pairwise loss, its truncation of 2 atoms per critic), ``rdo_sb3.FastTQC``
(TQC with rdo's loss), ``DEtaTQC`` with its defaults (rdo's loss ``"auto"``, no truncation, the objective in the
actor loss), ``DEtaTQC`` with ``loss_method="pairwise"``, and optionally ``DEtaTQC`` with stock relabelling (0.5).
All on the same stock-augmented env (``--env pendulum``: ``Pendulum-v1`` with a stock, or ``--env wealth``:
``rdo/WealthGoal-v0``; the stock is in the observation of every agent, so the networks are the same size), with
TQC's default hyperparameters (MlpPolicy [256, 256], 2 critics, batch 256, train every step) except
``learning_starts`` and the number of quantiles per critic ``N`` (``--quantiles``). Each agent first trains past
``learning_starts``; then timed rounds of ``--steps`` env steps alternate the order of the agents (ABCD, DCBA,
...) so that machine noise hits all alike. Reported: the median over rounds of each agent's steps/s (wall clock;
process CPU in brackets) and the ratio of medians to TQC.

Torch runs on one thread (``--threads 1``): the nets are small and intra-op threads only add contention.

    .venv/bin/python benchmarks/continuous_throughput.py                       # N = 25, Pendulum (~5 min)
    .venv/bin/python benchmarks/continuous_throughput.py --env wealth --quantiles 25 100 --rounds 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch as th
from sb3_contrib import TQC

from rdo_gym import StockAugmentation, UniformStock
from rdo_sb3 import DEtaTQC, FastTQC

AGENTS = ("tqc", "fast_tqc", "detatqc_pairwise", "detatqc")
LABELS = {"tqc": "TQC", "fast_tqc": "FastTQC", "detatqc_pairwise": "DηTQC pairwise", "detatqc": "DηTQC default",
          "detatqc_relabel": "DηTQC default + relabel 0.5"}
OBJECTIVES = {"pendulum": "cvar:0.25", "wealth": "cvar:0.5"}


def make_env(name: str) -> gym.Env:
    if name == "wealth":
        import rdo_envs

        return rdo_envs.make_stock_env("rdo/WealthGoal-v0", initial_stock=UniformStock(-40.0, 0.0))
    return StockAugmentation(gym.make("Pendulum-v1", max_episode_steps=200), gamma=1.0,
                             initial_stock=UniformStock(0.0, 1500.0), stock_scale=0.001, flatten=True)


def make_agent(name: str, env: str, n_quantiles: int, seed: int):
    kwargs = dict(learning_starts=300, buffer_size=100_000, gamma=1.0, seed=seed, verbose=0,
                  policy_kwargs=dict(n_quantiles=n_quantiles))
    if name == "tqc":
        return TQC("MlpPolicy", make_env(env), **kwargs)
    if name == "fast_tqc":
        return FastTQC("MlpPolicy", make_env(env), **kwargs)
    extra = {"detatqc_pairwise": dict(loss_method="pairwise"), "detatqc": {},
             "detatqc_relabel": dict(relabel_stocks=0.5)}[name]
    return DEtaTQC("MlpPolicy", make_env(env), objective=OBJECTIVES[env], **kwargs, **extra)


def measure(names: list[str], env: str, n_quantiles: int, steps: int, rounds: int,
            seed: int) -> dict[str, tuple[float, float]]:
    """Median steps/s (wall, CPU) over alternating rounds, per agent."""
    agents = {name: make_agent(name, env, n_quantiles, seed) for name in names}
    for model in agents.values():  # past learning_starts, so that every timed step trains
        model.learn(model.learning_starts + 50)
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            agents[name].learn(steps, reset_num_timesteps=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates[name].append((steps / wall, steps / cpu))
    return {name: (statistics.median(w for w, _ in rs), statistics.median(c for _, c in rs))
            for name, rs in rates.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=list(OBJECTIVES), default="pendulum")
    p.add_argument("--quantiles", type=int, nargs="+", default=[25])
    p.add_argument("--steps", type=int, default=300, help="env steps per timed round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--relabel", action="store_true", help="also DηTQC with relabel_stocks=0.5")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    th.set_num_threads(args.threads)
    names = [*AGENTS, *(["detatqc_relabel"] if args.relabel else [])]
    print(f"env {args.env}, objective {OBJECTIVES[args.env]}, torch threads {th.get_num_threads()}, "
          f"{args.rounds} rounds x {args.steps} steps")
    print("| N per critic | " + " | ".join(f"{LABELS[n]} steps/s (CPU)" for n in names)
          + " | " + " | ".join(f"{LABELS[n]} / TQC" for n in names[1:]) + " |")
    print("|---" * (2 * len(names)) + "|")
    for n in args.quantiles:
        res = measure(names, args.env, n, args.steps, args.rounds, args.seed)
        cells = [f"{res[k][0]:.0f} ({res[k][1]:.0f})" for k in names]
        ratios = [f"{res[k][0] / res['tqc'][0]:.2f}x" for k in names[1:]]
        print(f"| {n} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |", flush=True)


if __name__ == "__main__":
    main()
