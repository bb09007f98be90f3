"""Env-steps/s of DηN vs sb3-contrib QR-DQN on stock-augmented CartPole, measured in one run.

Both agents get identical hyperparameters, network (MlpPolicy, [64, 64]) and number of quantiles,
on the same env (CartPole-v1 + StockAugmentation(flatten=True)); the only differences are DηN's
objective hook (acting and bootstrap action), its logging of the objective estimate and, in the
extra column, stock relabelling. Rounds alternate the order of the agents (ABBA) so that machine
noise hits both alike; the ratio is total DηN steps/s over total QR-DQN steps/s. Torch runs on one
thread (default ``--threads 1``): the nets are tiny and intra-op threads only add contention.

    .venv/bin/python benchmarks/agent_throughput.py            # target: ratio >= 0.9 at every size
    .venv/bin/python benchmarks/agent_throughput.py --steps 500 --rounds 2   # quick check
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch as th
from sb3_contrib import QRDQN

from rdo_gym import StockAugmentation, UniformStock
from rdo_sb3 import DEtaN


def make_env() -> gym.Env:
    return StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, initial_stock=UniformStock(-300.0, 0.0),
                             flatten=True, stock_scale=0.01)


def hyperparameters(n_quantiles: int, seed: int) -> dict:
    return dict(learning_rate=1e-4, buffer_size=50_000, learning_starts=500, batch_size=32, gamma=1.0,
                train_freq=4, gradient_steps=1, target_update_interval=1000, exploration_fraction=0.1,
                policy_kwargs=dict(n_quantiles=n_quantiles, net_arch=[64, 64]), seed=seed, verbose=0)


def timed_learn(model, steps: int) -> tuple[float, float]:
    """(wall-clock seconds, process CPU seconds) of ``learn(steps)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(n_quantiles: int, objective: str, steps: int, rounds: int, seed: int, relabel: bool) -> dict:
    agents = {
        "qrdqn": QRDQN("MlpPolicy", make_env(), **hyperparameters(n_quantiles, seed)),
        "detan": DEtaN("MlpPolicy", make_env(), objective=objective, **hyperparameters(n_quantiles, seed)),
    }
    if relabel:
        agents["detan_relabel"] = DEtaN("MlpPolicy", make_env(), objective=objective, relabel_stocks=0.5,
                                        **hyperparameters(n_quantiles, seed))
    for model in agents.values():  # past learning_starts, so that every timed step may train
        model.learn(1000)
    wall = {name: [] for name in agents}
    cpu = {name: [] for name in agents}
    names = list(agents)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            w, c = timed_learn(agents[name], steps)
            wall[name].append(w)
            cpu[name].append(c)
    out: dict = {"n_quantiles": n_quantiles}
    for name in names:
        out[f"{name}_wall"] = steps * rounds / sum(wall[name])
        out[f"{name}_cpu"] = steps * rounds / sum(cpu[name])
        out[f"{name}_ratio_wall"] = out[f"{name}_wall"] / out["qrdqn_wall"]
        out[f"{name}_ratio_cpu"] = out[f"{name}_cpu"] / out["qrdqn_cpu"]
    out["median_round_ratio_wall"] = statistics.median(
        q / d for q, d in zip(wall["qrdqn"], wall["detan"], strict=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantiles", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--objective", default="cvar:0.1")
    parser.add_argument("--steps", type=int, default=2000, help="env steps per timed round and agent")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-relabel", action="store_true", help="skip the DηN + relabelling column")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    print(f"objective={args.objective} steps/round={args.steps} rounds={args.rounds} threads={args.threads}")
    header = ("| n_quantiles | QR-DQN steps/s (wall / CPU) | DηN steps/s (wall / CPU) | ratio wall "
              "| ratio CPU | median round ratio (wall) |")
    rule = "|---|---|---|---|---|---|"
    if not args.no_relabel:
        header += " DηN+relabel 0.5 steps/s (wall / CPU) | ratio wall | ratio CPU |"
        rule += "---|---|---|"
    rows, worst = [], float("inf")
    for n in args.quantiles:
        res = measure(n, args.objective, args.steps, args.rounds, args.seed, not args.no_relabel)
        worst = min(worst, res["detan_ratio_wall"], res["detan_ratio_cpu"])
        row = (f"| {n} | {res['qrdqn_wall']:.0f} / {res['qrdqn_cpu']:.0f} | {res['detan_wall']:.0f} / "
               f"{res['detan_cpu']:.0f} | {res['detan_ratio_wall']:.3f} | {res['detan_ratio_cpu']:.3f} | "
               f"{res['median_round_ratio_wall']:.3f} |")
        if not args.no_relabel:
            row += (f" {res['detan_relabel_wall']:.0f} / {res['detan_relabel_cpu']:.0f} | "
                    f"{res['detan_relabel_ratio_wall']:.3f} | {res['detan_relabel_ratio_cpu']:.3f} |")
        rows.append(row)
        print(row, flush=True)
    print()
    print("\n".join([header, rule, *rows]))
    print(f"\nworst DηN/QR-DQN ratio (wall or CPU): {worst:.3f} (target >= 0.9): "
          f"{'PASS' if worst >= 0.9 else 'FAIL'}")


if __name__ == "__main__":
    main()
