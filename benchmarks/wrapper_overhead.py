"""Per-step cost of StockAugmentation against gymnasium's TimeAwareObservation, on CartPole-v1.

Both wrappers add one number per step to the observation, so TimeAwareObservation is the natural
peer (its default ``flatten=True`` output compares with our flat Box, ``flatten=False`` with our
Dict). All variants run in the same process, interleaved (the order rotates every repeat), on the
same pre-drawn action sequence; the cost of a wrapper is its time per step minus the raw env's
time per step *in the same repeat*, and medians over repeats are reported. Time is the process's
CPU time (``time.process_time``), not wall time, so that other processes on a loaded machine do
not count. Target: the stock wrapper's overhead is at most 1.2x TimeAwareObservation's.

Two sections: CartPole-v1 (the env the target is stated on), and a constant env whose step costs
almost nothing, which isolates the wrappers' own cost from CartPole's physics and its noise.

Run:  .venv/bin/python benchmarks/wrapper_overhead.py [--steps 5000] [--repeats 41]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeAwareObservation, TimeLimit

from rdo_gym import StockAugmentation, UniformStock

ENV_ID = "CartPole-v1"


class ConstantEnv(gym.Env):
    """CartPole's spaces, a fixed observation and reward, 200-step episodes: a near-free step."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self) -> None:
        self._obs = np.zeros(4, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._obs, {}

    def step(self, action):
        return self._obs, 1.0, False, False, {}


def make_base(name: str) -> gym.Env:
    if name == "constant":
        return TimeLimit(ConstantEnv(), max_episode_steps=200)
    return gym.make(name)


def variants(base: str, gamma: float) -> dict[str, Callable[[], gym.Env]]:
    """Name -> env factory. Every variant sits on the same base stack."""
    return {
        "raw": lambda: make_base(base),
        "time_aware_flat": lambda: TimeAwareObservation(make_base(base)),
        "time_aware_dict": lambda: TimeAwareObservation(make_base(base), flatten=False),
        "stock_flat": lambda: StockAugmentation(make_base(base), gamma=gamma,
                                                initial_stock=UniformStock(-1, 1), flatten=True),
        "stock_dict": lambda: StockAugmentation(make_base(base), gamma=gamma,
                                                initial_stock=UniformStock(-1, 1)),
        "stock_dict_fixed": lambda: StockAugmentation(make_base(base), gamma=gamma, initial_stock=0.5),
    }


def run_block(env: gym.Env, actions: list[int]) -> float:
    """CPU seconds spent stepping ``env`` through ``actions``, resetting when an episode ends."""
    step, reset = env.step, env.reset
    start = time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = step(action)
        if terminated or truncated:
            reset()
    return time.process_time() - start


def measure(base: str, steps: int, repeats: int, gamma: float, block: int = 250,
            seed: int = 0) -> dict[str, list[float]]:
    """Seconds per step of every variant, ``repeats`` samples of ``steps`` steps each.

    Within a sample the variants take turns every ``block`` steps (each continuing its own
    trajectory on the same action sequence), so that all variants see the same machine state;
    the order of the turns rotates every repeat.
    """
    envs = {name: make() for name, make in variants(base, gamma).items()}
    names = list(envs)
    actions = [int(a) for a in np.random.default_rng(seed).integers(0, 2, size=steps)]
    blocks = [actions[i:i + block] for i in range(0, steps, block)]
    for env in envs.values():
        env.reset(seed=seed)
        run_block(env, actions)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for repeat in range(repeats):
            order = names[repeat % len(names):] + names[: repeat % len(names)]
            totals = dict.fromkeys(names, 0.0)
            for chunk in blocks:
                for name in order:
                    totals[name] += run_block(envs[name], chunk)
            for name in names:
                samples[name].append(totals[name] / steps)
    finally:
        if gc_was_enabled:
            gc.enable()
    for env in envs.values():
        env.close()
    return samples


def report(samples: dict[str, list[float]], max_ratio: float) -> bool:
    """Print steps/s, overheads and ratios; return whether the like-for-like ratios meet the target."""
    raw = samples["raw"]
    print(f"{'variant':18s} {'steps/s (median)':>17s} {'overhead us/step (median)':>27s}  "
          f"{'IQR':>15s}")
    overhead: dict[str, float] = {}
    for name, times in samples.items():
        per_repeat = [t - r for t, r in zip(times, raw, strict=True)]
        overhead[name] = statistics.median(per_repeat)
        q1, _, q3 = statistics.quantiles(per_repeat, n=4)
        extra = "" if name == "raw" else f"{overhead[name] * 1e6:27.3f}  [{q1 * 1e6:5.2f}, {q3 * 1e6:5.2f}]"
        print(f"{name:18s} {1 / statistics.median(times):17,.0f} {extra}")
    ok = True
    print()
    for ours, peer in [("stock_flat", "time_aware_flat"), ("stock_dict", "time_aware_dict"),
                       ("stock_dict_fixed", "time_aware_dict"), ("stock_dict", "time_aware_flat")]:
        ratio = overhead[ours] / overhead[peer] if overhead[peer] > 0 else float("inf")
        verdict = "OK" if ratio <= max_ratio else "ABOVE TARGET"
        if ours != "stock_dict" or peer != "time_aware_flat":
            ok &= ratio <= max_ratio
        print(f"overhead ratio {ours} / {peer}: {ratio:5.2f}  (target <= {max_ratio}) {verdict}")
    for name in [name for name in samples if name != "raw"]:
        print(f"slowdown {name} vs raw: {statistics.median(samples[name]) / statistics.median(raw):5.2f}x")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5_000, help="steps per sample (default 5000)")
    parser.add_argument("--repeats", type=int, default=41, help="interleaved samples per variant")
    parser.add_argument("--env", choices=["both", ENV_ID, "constant"], default="both",
                        help="base env(s) to measure (default both)")
    parser.add_argument("--block", type=int, default=250, help="steps per turn within a sample")
    parser.add_argument("--gamma", type=float, default=0.99, help="stock discount (default 0.99)")
    parser.add_argument("--max-ratio", type=float, default=1.2, help="target overhead ratio")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a ratio misses the target")
    args = parser.parse_args(argv)
    print(f"{args.steps} steps x {args.repeats} repeats per variant, taking turns every {args.block} "
          f"steps, gamma={args.gamma}, CPU "
          f"time; python {sys.version.split()[0]}, gymnasium {gym.__version__}, numpy {np.__version__}")
    ok = True
    for base in [ENV_ID, "constant"] if args.env == "both" else [args.env]:
        print(f"\n== {base}")
        ok &= report(measure(base, args.steps, args.repeats, args.gamma, args.block), args.max_ratio)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
