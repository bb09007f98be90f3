"""Return-distribution plots: CDFs of learned agents' Monte Carlo returns against exact laws.

A [`Panel`][rdo_envs.plots.Panel] holds exact laws `label -> (atoms, probs)` (e.g.
`rdo_envs.reference(env_id, objective).distributions`) and samples `label -> returns`;
[`save_return_plots`][rdo_envs.plots.save_return_plots] draws panels to a PNG. Used by `rdo plot`, `rdo demo`,
`benchmarks/learning.py` and `benchmarks/figures.py`. Needs matplotlib
(`pip install rdo[plot]`), imported only when drawing.

With the panel's objective known, each legend entry carries the objective's value of that curve
(`DηN (learned): CVaR_0.1 = -3.95`), a CVaR panel marks its tail level `alpha` with a
horizontal line and a target panel its target with a vertical one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Panel", "save_return_plots", "require_matplotlib"]

_EXACT_STYLES = {"DP optimum": dict(color="black", linestyle="-", linewidth=2.2),
                 "risk-neutral": dict(color="black", linestyle=":", linewidth=1.8),
                 "naive (no stock)": dict(color="grey", linestyle="--", linewidth=1.6)}
_FONT = 11          # points, for ticks, labels and legends
_DPI = 130


@dataclass
class Panel:
    """One subplot: exact laws `label -> (atoms, probs)` and samples `label -> returns`.

    Attributes:
        title: The subplot's title.
        exact: Exact laws, drawn as step CDFs (the labels of
            `distributions` get fixed black/grey styles).
        samples: Monte Carlo returns, drawn as empirical CDFs.
        vline: An x position to mark (e.g. the target return), or `None`.
        vline_label: The legend entry of `vline`.
        objective: The objective (or its spec) whose value each legend entry shows; `None`
            shows no values.
    """

    title: str
    exact: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    samples: Mapping[str, Sequence[float]] = field(default_factory=dict)
    vline: float | None = None
    vline_label: str = ""
    objective: Any = None


def require_matplotlib():
    """`matplotlib.pyplot` with the Agg backend, or an ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'rdo[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _exact_cdf(atoms: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(atoms)
    return np.asarray(atoms)[order], np.cumsum(np.asarray(probs)[order])


def _objective_of(panel: Panel):
    """The panel's objective, parsed (`None` when it has none)."""
    from rdo_gym import make_objective

    return None if panel.objective is None else make_objective(panel.objective)


def _value_name(objective) -> str:
    """A short name of the objective's value for the legend: `CVaR_0.1`, `E|G - 4|`, `P(G >= 1)`,
    `E|final level - 3|`."""
    from rdo_gym import CVaR, Expectation, Homeostasis, MeanCVaR, ProbabilityAtLeast, TargetReturn

    if isinstance(objective, MeanCVaR):
        return f"{objective.lam:g} E[G] + {1 - objective.lam:g} CVaR_{objective.alpha:g}"
    if isinstance(objective, CVaR):
        return f"CVaR_{objective.alpha:g}"
    if isinstance(objective, TargetReturn):
        t = objective.target
        return f"E|G - {t:g}|" if t >= 0 else f"E|G + {-t:g}|"
    if isinstance(objective, ProbabilityAtLeast):
        return f"P(G >= {objective.threshold:g})"
    if isinstance(objective, Expectation):
        return "E[G]"
    if isinstance(objective, Homeostasis):
        return f"E|final level - {objective.setpoint:g}|"
    return str(objective)


def _with_value(label: str, objective, returns: Any, weights: Any = None) -> str:
    if objective is None:
        return label
    try:
        value = float(objective.value(np.asarray(returns, dtype=np.float64), weights))
    except (ValueError, TypeError):
        return label
    return f"{label}: {_value_name(objective)} = {value:.3f}"


def _grid(n: int, ncols: int | None) -> tuple[int, int]:
    """Rows and columns for `n` panels: one row up to 3, 2 x 2 for 4, then 3 columns."""
    if ncols is None:
        ncols = n if n <= 3 else (2 if n == 4 else 3)
    ncols = max(1, min(ncols, n))
    return -(-n // ncols), ncols


def save_return_plots(panels: Sequence[Panel], path: str | Path, *, ncols: int | None = None,
                      suptitle: str | None = None) -> Path:
    """Draw each panel's CDFs `P(G <= x)` (exact laws as steps, samples as empirical CDFs) to a PNG.

    The legend of each panel sits below its axes, so that it never covers a curve. The figure is
    at least 1000 px wide, with 11-pt text.

    Args:
        panels: The subplots, in reading order.
        path: The PNG file (its folder is created).
        ncols: Subplots per row (default: all in one row up to 3 panels, 2 x 2 for 4, else 3
            per row).
        suptitle: A title above all panels.

    Returns:
        `path` as a `Path`.

    Raises:
        ImportError: Without matplotlib (the message says how to install it).
        ValueError: Without panels.
    """
    plt = require_matplotlib()
    if not panels:
        raise ValueError("no panels to plot")
    from rdo_gym import CVaR

    nrows, ncols = _grid(len(panels), ncols)
    n_entries = max(len(p.exact) + len(p.samples) + (p.vline is not None) + 1 for p in panels)
    legend_height = 0.22 * n_entries + 0.2        # inches below each axes
    width = max(8.0, 6.2 * ncols) if ncols > 1 else 8.0
    axes_height = 3.8
    with plt.rc_context({"font.family": "DejaVu Sans", "font.size": _FONT, "axes.titlesize": _FONT + 1,
                         "legend.fontsize": _FONT - 1}):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, nrows * (axes_height + legend_height + 0.7)),
                                 squeeze=False, layout="constrained")
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, panel in zip(axes.flat, panels, strict=False):
            objective = _objective_of(panel)
            lo, hi = np.inf, -np.inf
            for label, (atoms, probs) in panel.exact.items():
                x, y = _exact_cdf(atoms, probs)
                lo, hi = min(lo, x[0]), max(hi, x[-1])
                ax.step(np.r_[x[0] - 1, x], np.r_[0.0, y], where="post",
                        label=_with_value(label, objective, atoms, probs), **_EXACT_STYLES.get(label, {}))
            for label, returns in panel.samples.items():
                x = np.sort(np.asarray(returns, dtype=np.float64))
                lo, hi = min(lo, x[0]), max(hi, x[-1])
                ax.step(np.r_[x[0] - 1, x], np.r_[0.0, np.arange(1, len(x) + 1) / len(x)], where="post",
                        label=_with_value(f"{label} ({len(x)} episodes)", objective, x), linewidth=1.8,
                        alpha=0.9)
            if panel.vline is not None:
                ax.axvline(panel.vline, color="tab:red", linewidth=1.0, linestyle="-.",
                           label=panel.vline_label or None)
            if isinstance(objective, CVaR) and objective.alpha < 1:
                ax.axhline(objective.alpha, color="tab:purple", linewidth=1.0, linestyle="--",
                           label=f"alpha = {objective.alpha:g} (the CVaR tail lies below)")
            if np.isfinite(lo):
                pad = 0.05 * max(hi - lo, 1.0)
                ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(0, 1.02)
            ax.set_title(panel.title)
            ax.set_xlabel("return x")
            ax.set_ylabel("P(G <= x)")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=1, frameon=False)
        if suptitle:
            fig.suptitle(suptitle, fontsize=_FONT + 2)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=_DPI)
        plt.close(fig)
    return path
