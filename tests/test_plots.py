"""rdo_envs.plots: values in the legend labels, the grid, and a real PNG of readable size."""

from __future__ import annotations

import numpy as np
import pytest

import rdo_envs
from rdo_envs.plots import Panel, _grid, _objective_of, _with_value, save_return_plots


def test_labels_carry_the_objective_value():
    returns = [-4.0, 0.0, 1.0, 5.0]
    assert _with_value("DηN", _objective_of(Panel("x", objective="cvar:0.25")), returns) == "DηN: CVaR_0.25 = -4.000"
    assert _with_value("DηN", _objective_of(Panel("x", objective="target:1")), returns) == "DηN: E|G - 1| = 2.500"
    assert _with_value("a", _objective_of(Panel("x", objective="meancvar:0.25:0.5")), returns) == (
        "a: 0.5 E[G] + 0.5 CVaR_0.25 = -1.750")
    assert _with_value("DηN", _objective_of(Panel("rdo/CVaRGrid-v0  cvar:0.1")), returns) == "DηN"  # no objective


@pytest.mark.parametrize("n, expected", [(1, (1, 1)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)), (6, (2, 3))])
def test_the_grid_fits_the_panels(n, expected):
    assert _grid(n, None) == expected


def test_a_png_of_readable_size(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    ref = rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.1")
    samples = {"sampled": np.random.default_rng(0).choice(ref.distributions["DP optimum"][0], size=200)}
    path = save_return_plots([Panel("rdo/CVaRGrid-v0  cvar:0.1", exact=ref.distributions, samples=samples,
                                    objective="cvar:0.1")], tmp_path / "p.png")
    height, width = plt.imread(path).shape[:2]
    assert width >= 1000 and height >= 400
