"""Exact tables and figures of the wealth benchmarks (``rdo_envs.wealth``) for the docs; no training.

The learning runs themselves are ``benchmarks/learning.py``'s ``wealth-goal`` and ``wealth-cvar0.5``
settings (DηN on ``rdo/WealthGoalDiscrete-v0``, scored exactly on its tabular model).

    python benchmarks/wealth_learning.py --table                 # discretization table (Markdown)
    python benchmarks/wealth_learning.py --policy-figure docs/figures/wealth_policy.png

``--table``: the DP optimum of ``prob:30``, ``cvar:0.25`` and ``cvar:0.5`` on action grids of
2 .. 129 levels next to the exact continuous optimum (``rdo_envs.wealth.discretization_table``).
``--policy-figure``: the exact optimal risky fraction of the continuous env against the wealth, at
several times, for ``prob:30`` and ``cvar:0.5`` (the stock is ``c0* + W - W_0`` on the path from the
start, so it is a function of the wealth). Needs matplotlib.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

LEVELS = (2, 3, 5, 9, 11, 17, 21, 33, 41, 65, 81, 129)
OBJECTIVES = ("prob:30", "cvar:0.25", "cvar:0.5")


def table() -> str:
    """The discretization table as Markdown: one row per grid, one column per objective (optimum and
    gap to the exact continuous optimum)."""
    from rdo_envs.wealth import discretization_table

    rows = discretization_table(OBJECTIVES, LEVELS)
    head = "| action levels K | " + " | ".join(f"`{o}` optimum (gap)" for o in OBJECTIVES) + " |"
    lines = [head, "|---" * (len(OBJECTIVES) + 1) + "|"]
    for n in (*LEVELS, None):
        cells = []
        for o in OBJECTIVES:
            r = next(r for r in rows if r["objective"] == o and r["n_levels"] == n)
            cells.append(f"{r['optimum']:.4f} ({r['gap']:.4f})" if n is not None else f"**{r['optimum']:.4f}**")
        label = str(n) if n is not None else "exact (breakpoints)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def policy_figure(path: Path) -> Path:
    """Draw the exact optimal fraction against the wealth at t = 0, 3, 6, 9 for two objectives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import rdo_envs
    from rdo_envs import WealthGoalEnv

    env = WealthGoalEnv()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    wealth = np.arange(0, 161)
    for ax, spec in zip(axes, ("prob:30", "cvar:0.5"), strict=True):
        ref = rdo_envs.reference("rdo/WealthGoal-v0", spec)
        c0 = ref.initial_stock
        for t in (0, 3, 6, 9):
            stocks = c0 + wealth - env.initial_wealth
            actions = ref.solution.policy.actions(wealth, stocks.astype(float), t)
            u = [env.fraction(w, a) for w, a in zip(wealth, actions, strict=True)]
            ax.step(wealth, u, where="mid", label=f"t = {t} ({env.horizon - t} years left)")
        ax.axvline(env.goal, color="grey", ls=":", lw=1)
        ax.set_title(f"rdo/WealthGoal-v0 {spec}: optimal risky fraction (c0* = {c0:g})")
        ax.set_xlabel("wealth W (the goal is 80)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction u in equities")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true", help="print the discretization table (Markdown)")
    parser.add_argument("--policy-figure", type=Path, default=None, help="write the optimal-policy figure here")
    args = parser.parse_args(argv)
    if not args.table and args.policy_figure is None:
        parser.error("give --table and/or --policy-figure PATH")
    if args.table:
        start = time.perf_counter()
        print(table())
        print(f"\n(computed by rdo_gym.dp in {time.perf_counter() - start:.0f} s)")
    if args.policy_figure is not None:
        print(f"wrote {policy_figure(args.policy_figure)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
