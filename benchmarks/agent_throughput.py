"""Env-steps/s of DQN, QR-DQN and DηN on stock-augmented CartPole, and the quantile Huber loss alone.

**Agents** (one run): SB3 DQN, sb3-contrib QR-DQN (its pairwise loss), DηN with ``loss_method="pairwise"``
and DηN with its default loss (``"auto"``: the sorted ``O((N + M) log M)`` loss above a few tens of
thousands of pairs, see ``rdo_sb3.losses``), optionally ``rdo_sb3.FastQRDQN`` (QR-DQN with that loss) and
DηN with stock relabelling, on the same env (CartPole-v1 + StockAugmentation(flatten=True)),
identical hyperparameters and network (MlpPolicy, [64, 64]); the quantile agents at each number of
quantiles N. Each agent first trains past ``learning_starts``; then timed rounds of ``--steps`` env steps
alternate the order of the agents (ABCD, DCBA, ...) so that machine noise hits all alike. Reported: the
median over rounds of each agent's steps/s (wall clock; process CPU in brackets) and ratios of medians.

**Loss alone**: forward + backward of sb3-contrib's ``quantile_huber_loss`` (pairwise, autograd) and of
``rdo_sb3.losses.quantile_huber_loss`` with ``method="pairwise"`` and ``"sorted"`` on fresh random
``(batch, N)`` vs ``(batch, N)`` float32 inputs: the median time, and the peak heap memory in use during
the call, i.e. glibc's ``mallinfo2()`` in-use bytes (``uordblks + hblkhd``, which include every CPU
tensor's storage) sampled after each ATen operator of the forward and backward passes, minus its value
before the call.

Torch runs on one thread (``--threads 1``): the nets are tiny and intra-op threads only add contention.

    .venv/bin/python benchmarks/agent_throughput.py                                # everything (~25 min)
    .venv/bin/python benchmarks/agent_throughput.py --quantiles 10 200 --steps 500 --rounds 2 --no-loss  # quick
    .venv/bin/python benchmarks/agent_throughput.py --loss-only                    # the loss alone (~3 min)
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import gymnasium as gym
import torch as th
from sb3_contrib import QRDQN
from sb3_contrib.common.utils import quantile_huber_loss as sb3_quantile_huber_loss
from stable_baselines3 import DQN
from torch.utils._python_dispatch import TorchDispatchMode

from rdo_gym import StockAugmentation, UniformStock
from rdo_sb3 import DEtaN
from rdo_sb3.losses import FastQRDQN, quantile_huber_loss

AGENTS = ("dqn", "qrdqn", "detan_pairwise", "detan")
LABELS = {"dqn": "DQN", "qrdqn": "QR-DQN", "detan_pairwise": "DηN pairwise", "detan": "DηN default",
          "detan_relabel": "DηN default + relabel 0.5", "fast_qrdqn": "FastQRDQN"}


# -- agents -------------------------------------------------------------------------------------------

def make_env() -> gym.Env:
    return StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, initial_stock=UniformStock(-300.0, 0.0),
                             flatten=True, stock_scale=0.01)


def hyperparameters(seed: int) -> dict:
    return dict(learning_rate=1e-4, buffer_size=50_000, learning_starts=500, batch_size=32, gamma=1.0,
                train_freq=4, gradient_steps=1, target_update_interval=1000, exploration_fraction=0.1,
                seed=seed, verbose=0)


def make_agent(name: str, n_quantiles: int, objective: str, seed: int):
    kwargs = hyperparameters(seed)
    if name == "dqn":
        return DQN("MlpPolicy", make_env(), policy_kwargs=dict(net_arch=[64, 64]), **kwargs)
    kwargs["policy_kwargs"] = dict(n_quantiles=n_quantiles, net_arch=[64, 64])
    if name == "qrdqn":
        return QRDQN("MlpPolicy", make_env(), **kwargs)
    if name == "fast_qrdqn":
        return FastQRDQN("MlpPolicy", make_env(), **kwargs)
    extra = {"detan_pairwise": dict(loss_method="pairwise"), "detan": {},
             "detan_relabel": dict(relabel_stocks=0.5)}[name]
    return DEtaN("MlpPolicy", make_env(), objective=objective, **kwargs, **extra)


def timed_learn(model, steps: int) -> tuple[float, float]:
    """(wall-clock seconds, process CPU seconds) of ``learn(steps)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_agents(n_quantiles: int, names: list[str], objective: str, steps: int, rounds: int,
                   seed: int) -> dict[str, tuple[float, float]]:
    """Median steps/s (wall, CPU) over alternating rounds, per agent."""
    agents = {name: make_agent(name, n_quantiles, objective, seed) for name in names}
    for model in agents.values():  # past learning_starts, so that every timed step may train
        model.learn(model.learning_starts + 100)
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = timed_learn(agents[name], steps)
            rates[name].append((steps / wall, steps / cpu))
    return {name: (statistics.median(w for w, _ in rs), statistics.median(c for _, c in rs))
            for name, rs in rates.items()}


# -- the loss alone -------------------------------------------------------------------------------------

class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


try:
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _MallInfo2
except (OSError, AttributeError):  # not glibc >= 2.33: no memory column
    _libc = None


def heap_in_use() -> int:
    info = _libc.mallinfo2()
    return info.uordblks + info.hblkhd


class PeakHeap(TorchDispatchMode):
    """Peak of :func:`heap_in_use` above its value at entry, sampled after every ATen operator."""

    def __enter__(self):
        self.base = heap_in_use()
        self.peak = 0
        return super().__enter__()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, heap_in_use() - self.base)
        return out


LOSSES = {
    "sb3-contrib": lambda c, t: sb3_quantile_huber_loss(c, t, sum_over_quantiles=True),
    "pairwise": lambda c, t: quantile_huber_loss(c, t, sum_over_quantiles=True, method="pairwise"),
    "sorted": lambda c, t: quantile_huber_loss(c, t, sum_over_quantiles=True, method="sorted"),
}


def measure_loss(name: str, batch: int, n: int, reps: int, seed: int) -> tuple[float, float | None]:
    """(median seconds of forward + backward, peak heap bytes or None) on fresh random inputs."""
    loss = LOSSES[name]
    gen = th.Generator().manual_seed(seed)
    pool = [(th.randn(batch, n, generator=gen).requires_grad_(True), th.randn(batch, n, generator=gen))
            for _ in range(min(reps, 8))]
    loss(*pool[0]).backward()  # warm-up
    times = []
    for i in range(reps):
        current, target = pool[i % len(pool)]
        start = time.perf_counter()
        loss(current, target).backward()
        times.append(time.perf_counter() - start)
    peak = None
    if _libc is not None:
        current, target = pool[-1]
        for _ in range(2):  # the first pass under the mode also measures its own set-up
            with PeakHeap() as mode:
                loss(current, target).backward()
        peak = mode.peak
    return statistics.median(times), peak


def loss_table(quantiles: list[int], batches: list[int], reps: int, seed: int) -> dict:
    print("\n## The loss alone: forward + backward, (batch, N) vs (batch, N), float32; time in ms (peak heap MiB)\n")
    print("| batch | N | sb3-contrib | rdo pairwise | rdo sorted | sorted speed-up vs sb3-contrib "
          "| sorted peak / sb3-contrib peak |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for batch in batches:
        for n in quantiles:
            r = max(2, reps if batch * n * n <= 2_000_000 else reps // 5)  # the big pairwise calls take seconds
            res = {name: measure_loss(name, batch, n, r, seed) for name in LOSSES}
            results[batch, n] = res
            cells = [f"{t * 1e3:.3f} ({peak / 2**20:.2f})" if peak is not None else f"{t * 1e3:.3f}"
                     for t, peak in res.values()]
            (t_ref, m_ref), (t_sorted, m_sorted) = res["sb3-contrib"], res["sorted"]
            ratio = f"1/{m_ref / m_sorted:.0f}" if m_ref and m_sorted else "n/a"
            print(f"| {batch} | {n} | {' | '.join(cells)} | {t_ref / t_sorted:.1f}x | {ratio} |", flush=True)
    return results


# -- the run -------------------------------------------------------------------------------------------

def check(label: str, value: float, target: float) -> None:
    print(f"{label}: {value:.2f} (target >= {target}): {'PASS' if value >= target else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantiles", type=int, nargs="+", default=[10, 51, 200, 1000])
    parser.add_argument("--objective", default="cvar:0.1")
    parser.add_argument("--steps", type=int, default=1000, help="env steps per timed round and agent")
    parser.add_argument("--steps-large", type=int, default=200,
                        help="env steps per round at N >= 1000 (the pairwise agents take ~1 s per gradient step)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--relabel", action="store_true", help="add DηN default + relabelling (0.5)")
    parser.add_argument("--fast-qrdqn", action="store_true",
                        help="add rdo_sb3.FastQRDQN (QR-DQN with the default rdo loss, no objective)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256], help="batch sizes of the loss table")
    parser.add_argument("--loss-reps", type=int, default=20, help="timed calls per loss measurement")
    parser.add_argument("--no-loss", action="store_true", help="skip the loss table")
    parser.add_argument("--loss-only", action="store_true", help="only the loss table")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    print(f"torch {th.__version__}, threads={args.threads}, objective={args.objective}, steps/round={args.steps} "
          f"({args.steps_large} at N >= 1000), rounds={args.rounds}")

    if not args.loss_only:
        names = [*AGENTS, *(["detan_relabel"] if args.relabel else []), *(["fast_qrdqn"] if args.fast_qrdqn else [])]
        print("\n## Env-steps/s, median over rounds: wall clock (process CPU)\n")
        header = ["N", *(LABELS[name] for name in names), "DηN default / QR-DQN", "DηN default / DQN",
                  "DηN default / DηN pairwise"]  # ratios: wall clock (CPU)
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        ratios = {}
        for n in args.quantiles:
            steps = args.steps if n < 1000 else args.steps_large
            res = measure_agents(n, names, args.objective, steps, args.rounds, args.seed)
            ratios[n] = [(res["detan"][0] / res[other][0], res["detan"][1] / res[other][1])
                         for other in ("qrdqn", "dqn", "detan_pairwise")]
            cells = [str(n), *(f"{res[name][0]:.0f} ({res[name][1]:.0f})" for name in names),
                     *(f"{wall:.2f} ({cpu:.2f})" for wall, cpu in ratios[n])]
            print("| " + " | ".join(cells) + " |", flush=True)
        print()
        for n, other, target in ((200, 0, 5.0), (200, 1, 0.5), (10, 0, 0.95)):
            if n in ratios:
                for clock, value in zip(("wall", "CPU"), ratios[n][other], strict=True):
                    check(f"N={n}: DηN default / {('QR-DQN', 'DQN')[other]} ({clock})", value, target)

    if not args.no_loss:
        results = loss_table(args.quantiles, args.batches, args.loss_reps, args.seed)
        if (256, 1000) in results and results[256, 1000]["sorted"][1]:
            print()
            check("N=1000, batch 256: sb3-contrib (pairwise) peak / sorted peak",
                  results[256, 1000]["sb3-contrib"][1] / results[256, 1000]["sorted"][1], 20.0)


if __name__ == "__main__":
    main()
