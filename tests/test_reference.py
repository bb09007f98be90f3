"""The one exact-reference type: rdo_gym.dp.ExactReference, its normalized score and rdo_envs.reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rdo_envs
from rdo_gym import make_objective
from rdo_gym.dp import ExactReference, TabularMDP, exact_reference


def _risky_or_sure() -> TabularMDP:
    # One step: a risky arm (+10 or -6, fair coin; mean 2) against a sure +1.
    return TabularMDP.from_outcomes({0: {0: [(0.5, 1, 10.0, True), (0.5, 1, -6.0, True)], 1: [(1.0, 1, 1.0, True)]},
                                     1: {0: [(1.0, 1, 0.0, True)], 1: [(1.0, 1, 0.0, True)]}}, [1.0, 0.0], horizon=1)


def test_exact_reference_is_solve_next_to_the_exact_baselines():
    ref = exact_reference(_risky_or_sure(), "cvar:0.5")
    assert ref.optimum == pytest.approx(1.0)  # the sure arm
    assert ref.risk_neutral == pytest.approx(-6.0)  # the risky arm's lower half
    assert ref.naive == pytest.approx(1.0)  # one step: naive = optimal
    assert ref.solution is not None and ref.solution.value == pytest.approx(ref.optimum)
    assert set(ref.distributions) == {"DP optimum", "risk-neutral", "naive (no stock)"}
    atoms, probs = ref.distributions["risk-neutral"]
    assert sorted(zip(atoms.tolist(), probs.tolist(), strict=True)) == [(-6.0, 0.5), (10.0, 0.5)]
    assert exact_reference(_risky_or_sure(), "mean").naive is None


def test_normalized_is_direction_free_and_undefined_without_a_gap():
    ref = ExactReference(make_objective("cvar:0.1"), optimum=-2.0, risk_neutral=-10.0, naive=-5.0, initial_stock=3.0)
    assert ref.normalized(-2.0) == 1.0 and ref.normalized(-10.0) == 0.0 and ref.normalized(-6.0) == 0.5
    np.testing.assert_allclose(ref.normalized([-2.0, -6.0]), [1.0, 0.5])
    assert math.isnan(ref.normalized(math.nan))
    lower = ExactReference(make_objective("target:4"), optimum=0.1, risk_neutral=5.1, naive=None, initial_stock=-4.0)
    assert lower.normalized(2.6) == pytest.approx(0.5) and not lower.higher_is_better
    # The gap is zero to within the documented relative tolerance: the score is undefined (NaN).
    flat = ExactReference(make_objective("mean"), optimum=1e6, risk_neutral=1e6 - 0.5, naive=None, initial_stock=0.0)
    assert math.isnan(flat.normalized(1e6)) and np.isnan(flat.normalized([1.0, 2.0])).all()
    mean = rdo_envs.reference("rdo/CVaRGrid-v0", "mean")
    assert math.isnan(mean.normalized(1.0))


def test_reference_is_the_cached_exact_reference_of_the_benchmark():
    ref = rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.1")
    assert isinstance(ref, ExactReference) and ref is rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.1")
    direct = exact_reference(rdo_envs.env_class("rdo/CVaRGrid-v0")().model, "cvar:0.1")
    assert ref == direct  # the numbers (laws and solution are not compared)
    documented = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")]
    assert isinstance(documented, ExactReference) and documented.distributions == {} and documented.solution is None
    assert ref.normalized(ref.naive) == pytest.approx((-5.5 + 9.325) / (-3.7609375 + 9.325))
