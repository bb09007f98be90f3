"""Return-distribution plots: CDFs of learned agents' Monte Carlo returns against exact laws.

A :class:`Panel` holds exact laws ``label -> (atoms, probs)`` (e.g.
``rdo_envs.reference(env_id, objective).distributions``) and samples ``label -> returns``;
:func:`save_return_plots` draws panels to a PNG. Used by ``rdo plot``, ``rdo demo``,
``benchmarks/learning.py`` and ``benchmarks/figures.py``. Needs matplotlib
(``pip install rdo[plot]``), imported only when drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Panel", "save_return_plots", "require_matplotlib"]

_EXACT_STYLES = {"DP optimum": dict(color="black", linestyle="-", linewidth=2.0),
                 "risk-neutral": dict(color="black", linestyle=":", linewidth=1.6),
                 "naive (no stock)": dict(color="grey", linestyle="--", linewidth=1.4)}


@dataclass
class Panel:
    """One subplot: exact laws ``label -> (atoms, probs)`` and samples ``label -> returns``.

    Attributes:
        title: The subplot's title.
        exact: Exact laws, drawn as step CDFs (the labels of
            :attr:`~rdo_gym.dp.ExactReference.distributions` get fixed black/grey styles).
        samples: Monte Carlo returns, drawn as empirical CDFs.
        vline: An x position to mark (e.g. the target return), or ``None``.
        vline_label: The legend entry of ``vline``.
    """

    title: str
    exact: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    samples: Mapping[str, Sequence[float]] = field(default_factory=dict)
    vline: float | None = None
    vline_label: str = ""


def require_matplotlib():
    """``matplotlib.pyplot`` with the Agg backend, or an ImportError saying how to install it."""
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


def save_return_plots(panels: Sequence[Panel], path: str | Path, *, ncols: int = 3,
                      suptitle: str | None = None) -> Path:
    """Draw each panel's CDFs ``P(G <= x)`` (exact laws as steps, samples as empirical CDFs) to a PNG.

    Args:
        panels: The subplots, in reading order.
        path: The PNG file (its folder is created).
        ncols: Subplots per row.
        suptitle: A title above all panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ImportError: Without matplotlib (the message says how to install it).
    """
    plt = require_matplotlib()
    if not panels:
        raise ValueError("no panels to plot")
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.7 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        lo, hi = np.inf, -np.inf
        for label, (atoms, probs) in panel.exact.items():
            x, y = _exact_cdf(atoms, probs)
            lo, hi = min(lo, x[0]), max(hi, x[-1])
            ax.step(np.r_[x[0] - 1, x], np.r_[0.0, y], where="post", label=label,
                    **_EXACT_STYLES.get(label, {}))
        for label, returns in panel.samples.items():
            x = np.sort(np.asarray(returns, dtype=np.float64))
            lo, hi = min(lo, x[0]), max(hi, x[-1])
            ax.step(np.r_[x[0] - 1, x], np.r_[0.0, np.arange(1, len(x) + 1) / len(x)], where="post",
                    label=f"{label} ({len(x)} episodes)", alpha=0.85)
        if panel.vline is not None:
            ax.axvline(panel.vline, color="tab:red", linewidth=0.8, linestyle="-.", label=panel.vline_label or None)
        if np.isfinite(lo):
            pad = 0.05 * max(hi - lo, 1.0)
            ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(0, 1.02)
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel("return G")
        ax.set_ylabel("P(return <= G)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
