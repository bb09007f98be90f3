"""Long discounted episodes: DηN with the raw stock `C_t` in the observation vs the discounted form
`(X_t, gamma^t)`, `X_t = gamma^t C_t` (`rdo_gym.StockAugmentation(representation=...)`).

The task: CartPole-v1 (up to 500 steps) with gamma = 0.99 and target-return objectives `target:g` on the
*discounted* return `G = sum_t 0.99^t R_{t+1}` (at most `100 (1 - 0.99^500) = 99.34`). Hitting `g = 90`
means balancing for about 230 steps and then letting the pole fall: the agent must read the stock late
in the episode, where the raw `C_t = gamma^-t X_t` has grown tenfold (and `gamma^-500 = 152`). Training
draws `c0` uniformly on `[-100, 0]` (one network serves every target `g = -c0`); evaluation runs
`--episodes` greedy episodes at `c0 = -g` for each `g` in `--targets` and reports `E|G - g|` (lower is
better) with its bootstrap 95% CI, and the mean episode length. Both representations use the same seeds,
hyperparameters (the RL Zoo's QR-DQN settings for CartPole, 25 quantiles) and `stock_scale`. For
reference, the policy that always balances gets `|99.34 - g|`.

    python benchmarks/stock_representation.py --seeds 0 1 2 --steps 100000 --out /tmp/stockrep
    python benchmarks/stock_representation.py --summarize-only --out /tmp/stockrep

Writes ``runs.jsonl`` (one line per finished run; finished runs are skipped on a rerun) and prints a
Markdown table of the mean over seeds per representation and target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HYPERPARAMETERS = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                       target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                       exploration_final_eps=0.04, relabel_stocks=0.5,
                       policy_kwargs=dict(net_arch=[256, 256], n_quantiles=25))
GAMMA = 0.99
STOCK_RANGE = (-100.0, 0.0)
STOCK_SCALE = 0.01


def make_env(representation: str):
    import gymnasium as gym

    from rdo_gym import StockAugmentation, UniformStock

    return StockAugmentation(gym.make("CartPole-v1"), gamma=GAMMA, initial_stock=UniformStock(*STOCK_RANGE),
                             flatten=True, stock_scale=STOCK_SCALE, representation=representation)


def run(representation: str, seed: int, steps: int, targets: list[float], episodes: int) -> dict:
    import torch as th

    th.set_num_threads(1)
    from rdo_sb3 import DEtaN, evaluate_objective

    start = time.perf_counter()
    cpu = time.process_time()
    model = DEtaN("MlpPolicy", make_env(representation), objective=f"target:{targets[0]:g}", gamma=GAMMA,
                  seed=seed, **HYPERPARAMETERS)
    model.learn(steps)
    train_s = time.perf_counter() - start
    results = {}
    for g in targets:
        model.set_objective(f"target:{g:g}")
        report = evaluate_objective(model, make_env(representation), n_episodes=episodes, seed=20_000 + seed)
        results[f"target:{g:g}"] = dict(value=report.value, ci=list(report.ci),
                                        mean_return=float(report.returns.mean()),
                                        mean_length=float(report.episode_lengths.mean()))
    return dict(representation=representation, seed=seed, steps=steps, results=results, train_s=train_s,
                wall_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu,
                load_average=os.getloadavg()[0])


def summarize(rows: list[dict], targets: list[float]) -> str:
    always = 100.0 * (1.0 - GAMMA**500)
    lines = ["| representation | seeds | " + " | ".join(f"E\\|G - {g:g}\\| (mean over seeds; per seed)"
                                                       for g in targets) + " | mean episode length |",
             "|---|---|" + "---|" * len(targets) + "---|"]
    for rep in ("raw", "discounted"):
        mine = sorted((r for r in rows if r["representation"] == rep), key=lambda r: r["seed"])
        if not mine:
            continue
        cells = []
        for g in targets:
            values = [r["results"][f"target:{g:g}"]["value"] for r in mine]
            cells.append(f"{np.mean(values):.2f}; " + ", ".join(f"{v:.2f}" for v in values))
        lengths = [np.mean([r["results"][k]["mean_length"] for k in r["results"]]) for r in mine]
        lines.append(f"| {rep} | {len(mine)} | " + " | ".join(cells) + f" | {np.mean(lengths):.0f} |")
    lines.append("| always balance (reference) | | " + " | ".join(f"{abs(always - g):.2f}" for g in targets)
                 + " | 500 |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--targets", type=float, nargs="+", default=[90.0, 60.0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--representations", nargs="+", default=["raw", "discounted"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("stock_representation_runs"))
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "runs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(r["representation"], r["seed"], r["steps"]) for r in rows}
    jobs = [(rep, seed) for seed in args.seeds for rep in args.representations
            if (rep, seed, args.steps) not in done]
    if not args.summarize_only and jobs:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(run, rep, seed, args.steps, args.targets, args.episodes): (rep, seed)
                       for rep, seed in jobs}
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                with path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                values = ", ".join(f"{k} {v['value']:.2f}" for k, v in row["results"].items())
                print(f"{row['representation']} seed {row['seed']}: {values} ({row['wall_s']:.0f} s, "
                      f"load {row['load_average']:.1f})", flush=True)
    rows = [r for r in rows if r["steps"] == args.steps and r["seed"] in args.seeds]
    print(summarize(rows, args.targets))
    if rows:
        print(f"\ntrain wall s per run: {np.mean([r['train_s'] for r in rows]):.0f}; "
              f"load average {min(r['load_average'] for r in rows):.1f}-{max(r['load_average'] for r in rows):.1f}")
    assert all(math.isfinite(r["results"][k]["value"]) for r in rows for k in r["results"])


if __name__ == "__main__":
    main()
