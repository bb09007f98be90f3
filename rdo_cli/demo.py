"""`rdo demo`: DηN against the exact CVaR optimum on `rdo/CVaRGrid-v0`, in a few CPU minutes.

Solves the benchmark exactly (DP), trains DηN with stock relabelling (the env's preset), evaluates
it by Monte Carlo with its own initial-stock choice, and prints a table against the optimum, the
naive stock-free CVaR policy and the risk-neutral policy; writes a plot of the return
distributions and leaves a run folder that `rdo evaluate` / `rdo plot` read.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from rdo_cli.envs import make_env
from rdo_cli.evaluate import evaluate_run
from rdo_cli.formatting import num
from rdo_cli.run_folder import Run
from rdo_cli.train import train
from rdo_envs.plots import Panel, save_return_plots

__all__ = ["ENV_ID", "run_demo"]

ENV_ID = "rdo/CVaRGrid-v0"


def _mean(dist: tuple[np.ndarray, np.ndarray]) -> float:
    return float(np.dot(*dist))


def run_demo(*, alpha: float = 0.1, timesteps: int | None = None, seed: int = 0, episodes: int = 2000,
             out: Path = Path("rdo-demo"), stream: TextIO | None = None) -> dict[str, float]:
    """Run the demo; returns the numbers of its table (`optimum`, `agent`, `normalized`...).

    Args:
        alpha: The CVaR level.
        timesteps: Env steps (default: the preset's).
        seed: The seed of the model (the evaluation uses `10000 + seed`).
        episodes: Monte Carlo evaluation episodes.
        out: The run folder.
        stream: Where the table goes (default: stdout).
    """
    import rdo_envs

    say = (lambda *a: print(*a, file=stream, flush=True)) if stream is not None else \
        (lambda *a: print(*a, flush=True))
    objective = f"cvar:{alpha:g}"
    say(f"rdo demo: maximize CVaR_{alpha:g} of the return (the mean of the worst {alpha:.0%} of episodes) on "
        f"{ENV_ID}")
    say("  a gusty ridge, then thin ice (short, 5% fall per cell) or mud (safe, costly); the best route depends on "
        "the rewards so far (the stock)\n")

    start = time.perf_counter()
    ref = rdo_envs.reference(ENV_ID, objective)
    say(f"[1/4] exact DP optimum: CVaR {ref.optimum:.3f} at initial stock c0* = {ref.initial_stock:g} "
        f"({time.perf_counter() - start:.1f} s)")

    say("[2/4] training DηN with stock relabelling (preset of rdo_envs/presets/detan.yml; progress on stderr)")
    config, model, folder = train(ENV_ID, objective, timesteps=timesteps, seed=seed, out=out,
                                  overrides={"relabel_stocks": True}, force=True)
    say(f"      trained {config.timesteps} steps in {config.train_seconds:.0f} s; run folder {folder}")

    say(f"[3/4] evaluating DηN on {episodes} Monte Carlo episodes (its own choice of c0)")
    run = Run(config, model, make_env(config))
    try:
        ev = evaluate_run(run, episodes, seed=10_000 + seed, label="DηN (learned)")
    finally:
        run.close()
    c0s, counts = np.unique(ev.initial_stocks, return_counts=True)
    chosen = c0s[np.argmax(counts)]

    norm = ref.normalized(ev.value)
    rows = [("DP optimum (exact, stock-augmented)", ref.optimum, _mean(ref.distributions["DP optimum"]), 1.0,
             "exact"),
            ("DηN (learned)", ev.value, float(ev.returns.mean()), norm,
             f"{episodes} episodes, 95% CI {ev.ci[0]:.2f} .. {ev.ci[1]:.2f}, c0 = {chosen:g}"),
            ("naive CVaR (no stock)", ref.naive, _mean(ref.distributions["naive (no stock)"]),
             ref.normalized(ref.naive), "exact"),
            ("risk-neutral (max E[G])", ref.risk_neutral, _mean(ref.distributions["risk-neutral"]), 0.0, "exact")]
    say("\n[4/4] results (normalized = (value - risk-neutral) / (optimum - risk-neutral); 1 = optimal)\n")
    say(f"  {'policy':38s} {'CVaR_' + format(alpha, 'g'):>9s} {'mean G':>8s} {'normalized':>10s}  how")
    for name, value, mean, score, how in rows:
        shown = "n/a" if np.isnan(score) else num(score, ".3f")
        say(f"  {name:38s} {num(value, '9.3f')} {num(mean, '8.3f')} {shown:>10s}  {how}")

    try:
        panel = Panel(f"{ENV_ID}  {objective}", exact=ref.distributions, samples={"DηN (learned)": ev.returns},
                      objective=objective)
        plot = save_return_plots([panel], folder / "return_distributions.png",
                                 ncols=1)
        say(f"\nplot of the return distributions: {plot}")
    except ImportError as err:
        say(f"\nno plot: {err}")
    say(f"next: rdo evaluate {folder}    rdo plot {folder} --out returns.png    rdo solve {ENV_ID} -o {objective}")
    return {"optimum": ref.optimum, "agent": ev.value, "normalized": norm, "risk_neutral": ref.risk_neutral,
            "naive": ref.naive, "seconds": time.perf_counter() - start}


if __name__ == "__main__":  # pragma: no cover
    run_demo(stream=sys.stdout)
