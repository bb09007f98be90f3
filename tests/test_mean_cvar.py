"""MeanCVaR: lam * E[G] + (1 - lam) * CVaR_alpha(G): its identities, and the exact DP against brute
force over every deterministic history-dependent policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dp_bruteforce import achievable_laws, brute_best, random_mdp

from rdo_gym import CVaR, Expectation, MeanCVaR, make_objective
from rdo_gym.dp import evaluate, solve

samples = st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=30)
alphas = st.floats(0.01, 1.0)
lams = st.floats(0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(samples, alphas, lams)
def test_value_is_the_blend_of_mean_and_cvar(xs, alpha, lam):
    obj = MeanCVaR(alpha, lam)
    expected = lam * np.mean(xs) + (1 - lam) * CVaR(alpha).value(xs)
    assert obj.value(xs) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(samples, alphas, lams)
def test_value_is_the_outer_search_over_the_initial_stock(xs, alpha, lam):
    # max_c -c + E[f(c + G)]: the maximum is attained at c = -x_i for an atom x_i (piecewise linear)
    obj = MeanCVaR(alpha, lam)
    stocks = -np.asarray(xs)
    idx, best = obj.select_initial_stock(stocks, obj.score(stocks, np.asarray(xs)))
    assert best == pytest.approx(obj.value(xs), abs=1e-9)
    c0 = obj.best_initial_stock(xs)
    assert float(obj.value_from_utility(c0, obj.score(c0, np.asarray(xs)))) == pytest.approx(obj.value(xs), abs=1e-9)


@given(st.floats(-100, 100), st.floats(0.01, 100), alphas, lams)
def test_utility_is_positively_homogeneous(x, k, alpha, lam):
    obj = MeanCVaR(alpha, lam)
    assert obj.utility(k * x) == pytest.approx(k * obj.utility(x), rel=1e-9, abs=1e-9)
    assert obj.homogeneous and obj.check_gamma(0.9) == 0.9


def test_ends_of_the_blend_and_the_string_form():
    xs = [-3.0, 1.0, 2.0, 8.0]
    assert MeanCVaR(0.25, 0.0).value(xs) == CVaR(0.25).value(xs) == -3.0
    assert MeanCVaR(0.25, 1.0).value(xs) == Expectation().value(xs) == 2.0
    assert make_objective("meancvar:0.1:0.3") == MeanCVaR(0.1, 0.3)
    assert str(make_objective(str(MeanCVaR(0.125, 0.75)))) == "meancvar:0.125:0.75"
    assert MeanCVaR(0.5, 0.5).searches_initial_stock and MeanCVaR(0.5, 0.5).initial_stock is None


def test_weighted_atoms_and_torch():
    obj = MeanCVaR(0.5, 0.25)
    atoms, probs = np.array([-2.0, 0.0, 4.0]), np.array([0.25, 0.5, 0.25])
    # mean 0.5, CVaR_0.5 = (0.25 * -2 + 0.25 * 0) / 0.5 = -1
    assert obj.value(atoms, probs) == pytest.approx(0.25 * 0.5 + 0.75 * -1.0)
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(obj.utility(torch.tensor(x)).numpy(), obj.utility(x))


@pytest.mark.parametrize("spec, match", [("meancvar:0:0.5", "alpha must lie in"), ("meancvar:0.1:1.5", "lam must"),
                                          ("meancvar:0.1", "takes 2 argument"), ("meancvar:0.1:nan", "lam")])
def test_bad_parameters(spec, match):
    with pytest.raises(ValueError, match=match):
        make_objective(spec)


mdp_params = st.tuples(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mdp_params, st.sampled_from([0.1, 0.3, 0.6]), st.sampled_from([0.0, 0.25, 0.5, 0.9]))
def test_dp_optimum_equals_best_history_dependent_policy(params, alpha, lam):
    seed, S, H, starts = params
    mdp = random_mdp(seed, S, H, n_starts=min(starts, S))
    support, laws = achievable_laws(mdp)
    obj = MeanCVaR(alpha, lam)
    sol = solve(mdp, obj)
    assert sol.value == pytest.approx(brute_best(obj, support, laws), abs=1e-9)
    assert evaluate(mdp, sol.policy, obj).value == pytest.approx(sol.value, abs=1e-9)
