"""Is a preset found by `rdo tune` at least as good as the shipped one? Both are trained with the same steps and
seeds and evaluated on the same episodes (the same evaluation seed) against the exact optimum.

    .venv/bin/python benchmarks/tuning.py runs/tune/CVaRGrid-v0-detan-cvar_0.1/best.yml -n 3000 --seeds 0 1 2

Prints, per preset and seed, the objective's value and normalized score, then the mean normalized scores and the
gap ratio `(optimum - shipped) / (optimum - tuned)` of the mean values: above 1, the tuned preset ends closer to the
optimum.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import rdo_envs
from rdo_gym.presets import Preset
from rdo_sb3 import evaluate_objective
from rdo_sb3.factory import make_model


def score(preset, stock_scale, env_id, steps, seed, episodes, reference):
    env = rdo_envs.make_stock_env(env_id, preset.objective, stock_scale=stock_scale)
    eval_env = rdo_envs.make_stock_env(env_id, preset.objective, stock_scale=stock_scale)
    model = make_model(preset.with_overrides(n_timesteps=steps), env, seed=seed)
    model.learn(steps)
    evaluation = evaluate_objective(model, eval_env, episodes, seed=10_000)
    env.close()
    eval_env.close()
    return evaluation.value, float(reference.normalized(evaluation.value))


def read_best(path: str, env_id: str) -> tuple[Preset, float]:
    """The preset and stock scale of `env_id`'s entry in a `best.yml` written by `rdo tune` (the stock scale sits in
    its `env_wrapper`; the Zoo-only `callback` is dropped)."""
    import yaml

    entry = dict(yaml.safe_load(Path(path).read_text())[env_id])
    wrappers = entry.pop("env_wrapper", None) or []
    entry.pop("callback", None)
    scales = [kw.get("stock_scale") for w in wrappers for name, kw in w.items() if name.endswith("StockAugmentation")]
    if not scales or scales[0] is None:
        raise SystemExit(f"{path}: the entry of {env_id} has no StockAugmentation stock_scale in env_wrapper")
    objective, gamma, steps = entry.pop("objective"), entry.pop("gamma"), int(entry.pop("n_timesteps"))
    preset = Preset("detan", env_id, str(objective), float(gamma), steps, entry.pop("policy", None), entry)
    return preset, float(scales[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("best", help="the best.yml written by rdo tune")
    parser.add_argument("--env", default="rdo/CVaRGrid-v0")
    parser.add_argument("-n", "--steps", type=int, default=3000, help="training steps of every run (the trials')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tuned_preset, tuned_scale = read_best(args.best, args.env)
    shipped = rdo_envs.preset(args.env)
    shipped_scale = rdo_envs.make_stock_env(args.env).stock_scale
    reference = rdo_envs.reference(args.env, tuned_preset.objective)
    print(f"{args.env} {tuned_preset.objective}: optimum {reference.optimum:.4f}, risk-neutral "
          f"{reference.risk_neutral:.4f}; {args.steps} steps, seeds {args.seeds}, {args.episodes} episodes")
    results = {}
    for name, preset, scale in (("shipped", shipped, shipped_scale), ("tuned", tuned_preset, tuned_scale)):
        rows = []
        for seed in args.seeds:
            start = time.perf_counter()
            value, normalized = score(preset, scale, args.env, args.steps, seed, args.episodes, reference)
            rows.append((value, normalized))
            print(f"{name:8s} seed {seed}: value {value:.4f}, normalized {normalized:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        results[name] = rows
    mean = {k: statistics.mean(v for v, _ in rows) for k, rows in results.items()}
    norm = {k: statistics.mean(n for _, n in rows) for k, rows in results.items()}
    print(f"mean normalized: shipped {norm['shipped']:.3f}, tuned {norm['tuned']:.3f}")
    gap = (reference.optimum - mean["shipped"]) / max(reference.optimum - mean["tuned"], 1e-12)
    print(f"gap ratio (optimum - shipped) / (optimum - tuned) = {gap:.2f}")


if __name__ == "__main__":
    main()
