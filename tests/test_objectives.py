"""Objectives: closed forms, CVaR's reduction, torch/numpy agreement, string forms, bad inputs."""

from __future__ import annotations

import pickle
import subprocess
import sys

import cloudpickle
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rdo_gym import (
    CVaR,
    Expectation,
    ExpectedUtility,
    Homeostasis,
    ProbabilityAtLeast,
    TargetReturn,
    check_gamma,
    make_objective,
)

ALL_SPECS = ["mean", "target:5", "target:-2.5", "prob:3", "prob:0", "cvar:0.1", "cvar:1",
             "homeostasis:0", "homeostasis:2:-1.5"]

# A small discrete law of G used throughout: atoms and probabilities.
ATOMS = np.array([-10.0, 0.0, 4.0, 10.0])
PROBS = np.array([0.05, 0.45, 0.2, 0.3])


def squared_loss(x):
    return -(x * x)


# ------------------------------------------------------------------------------------------------
# Closed forms, one per objective, chosen so that a wrong sign of the stock or an off-by-one
# (c0 = +target, > instead of >=, upper instead of lower tail) gives a different number.


def test_expectation_is_the_mean():
    assert Expectation().value(ATOMS, PROBS) == pytest.approx(float(ATOMS @ PROBS))
    assert Expectation().value([1.0, 2.0, 6.0]) == pytest.approx(3.0)
    assert Expectation().initial_stock == 0.0


def test_target_return_is_mean_absolute_distance_to_target():
    # E|G - 4| = 0.05*14 + 0.45*4 + 0 + 0.3*6 = 4.3 ; with c0 = +4 instead it would be E|G + 4|.
    objective = TargetReturn(4.0)
    assert objective.initial_stock == -4.0
    assert objective.value(ATOMS, PROBS) == pytest.approx(4.3)
    assert objective.value(ATOMS, PROBS) != pytest.approx(float(np.abs(ATOMS + 4) @ PROBS))
    assert objective.higher_is_better is False


def test_probability_at_least_counts_the_threshold_itself():
    objective = ProbabilityAtLeast(4.0)
    assert objective.initial_stock == -4.0
    assert objective.value(ATOMS, PROBS) == pytest.approx(0.5)  # P(G >= 4), atom at 4 included
    assert ProbabilityAtLeast(4.000001).value(ATOMS, PROBS) == pytest.approx(0.3)
    assert ProbabilityAtLeast(-10).value(ATOMS, PROBS) == pytest.approx(1.0)
    assert objective.utility(np.array([-1e-9, 0.0, 1.0])).tolist() == [0.0, 1.0, 1.0]


def test_homeostasis_is_mean_absolute_deviation_from_the_set_point():
    # level starts at 1, rewards change it, set point 3: E|1 + G - 3|.
    objective = Homeostasis(setpoint=3.0, initial_level=1.0)
    assert objective.initial_stock == -2.0
    expected = float(np.abs(1 + ATOMS - 3) @ PROBS)
    assert objective.value(ATOMS, PROBS) == pytest.approx(expected)
    assert objective.value(ATOMS, PROBS) != pytest.approx(float(np.abs(3 + ATOMS - 1) @ PROBS))
    assert Homeostasis(0.0).value([-1.0, 3.0]) == pytest.approx(2.0)


def test_expected_utility_uses_its_initial_stock():
    objective = ExpectedUtility(squared_loss, name="sq", initial_stock=-1.0)
    assert objective.value([1.0, 3.0]) == pytest.approx(-(0.0 + 4.0) / 2)
    assert str(objective) == "utility:sq"


def test_cvar_of_a_uniform_is_half_alpha_lower_tail():
    # Midpoint quantiles of U(0, 1): the lower alpha tail mean is alpha / 2 exactly; the upper
    # tail would be 1 - alpha / 2.
    n = 1000
    atoms = (np.arange(n) + 0.5) / n
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(atoms)
    for alpha in [0.01, 0.1, 0.25, 0.5, 1.0]:
        assert CVaR(alpha).value(shuffled) == pytest.approx(alpha / 2, abs=1e-12)
        assert CVaR(alpha).value(-shuffled) == pytest.approx(-1 + alpha / 2, abs=1e-12)


def test_cvar_of_a_discrete_law_with_fractional_boundary_atom():
    # alpha = 0.1: 0.05 at -10 and 0.05 of the atom at 0 -> -5. alpha = 0.6: 0.05*-10 + 0.45*0 +
    # 0.1*4 -> -0.1/0.6. Upper tail at 0.1 would be 10.
    assert CVaR(0.1).value(ATOMS, PROBS) == pytest.approx(-5.0)
    assert CVaR(0.6).value(ATOMS, PROBS) == pytest.approx((-0.5 + 0.4) / 0.6)
    assert CVaR(1.0).value(ATOMS, PROBS) == pytest.approx(float(ATOMS @ PROBS))
    # unnormalized weights and shuffled atoms give the same
    order = np.array([3, 1, 0, 2])
    assert CVaR(0.1).value(ATOMS[order], 7 * PROBS[order]) == pytest.approx(-5.0)
    # samples: worst 25% of 8 samples is the mean of the 2 lowest
    assert CVaR(0.25).value([5.0, -3.0, 2.0, 8.0, -1.0, 0.0, 4.0, 7.0]) == pytest.approx(-2.0)


def test_cvar_boundary_between_two_samples_is_exact():
    # 3 equally likely samples, alpha = 0.5: all of the lowest (1/3) and 1/6 of the next.
    assert CVaR(0.5).value([2.0, 0.0, 1.0]) == pytest.approx((0.0 / 3 + 1.0 / 6) / 0.5)


# ------------------------------------------------------------------------------------------------
# CVaR's reduction: value == max_c -c + E[min(c + G, 0)] / alpha, maximum attained at c = -atom.

atoms_strategy = st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=12)
alpha_strategy = st.floats(0.01, 1.0)


def outer_search(alpha, atoms, weights=None):
    objective = CVaR(alpha)
    candidates = -np.asarray(atoms, dtype=np.float64)
    utilities = objective.score(candidates, atoms, weights)
    return objective.select_initial_stock(candidates, utilities)


@settings(max_examples=200, deadline=None)
@given(atoms=atoms_strategy, alpha=alpha_strategy)
def test_cvar_value_equals_outer_stock_search_for_samples(atoms, alpha):
    objective = CVaR(alpha)
    index, searched = outer_search(alpha, atoms)
    assert objective.value(atoms) == pytest.approx(searched, abs=1e-9, rel=1e-9)
    # the closed-form maximizer -VaR attains it, and no other stock does better
    c0 = objective.best_initial_stock(atoms)
    attained = objective.value_from_utility(c0, objective.score(c0, atoms))
    assert attained == pytest.approx(searched, abs=1e-9, rel=1e-9)
    grid = np.linspace(-110, 110, 441)
    assert np.all(objective.value_from_utility(grid, objective.score(grid, atoms)) <= searched + 1e-9)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), atoms=atoms_strategy, alpha=alpha_strategy)
def test_cvar_value_equals_outer_stock_search_for_weighted_atoms(data, atoms, alpha):
    weights = data.draw(st.lists(st.floats(0.0, 10.0), min_size=len(atoms), max_size=len(atoms)))
    if sum(weights) <= 1e-3:
        weights[0] = 1.0
    objective = CVaR(alpha)
    _, searched = outer_search(alpha, atoms, weights)
    assert objective.value(atoms, weights) == pytest.approx(searched, abs=1e-8, rel=1e-8)
    c0 = objective.best_initial_stock(atoms, weights)
    attained = objective.value_from_utility(c0, objective.score(c0, atoms, weights))
    assert attained == pytest.approx(searched, abs=1e-8, rel=1e-8)


def test_best_initial_stock_is_minus_var_and_fixed_for_other_objectives():
    assert CVaR(0.1).best_initial_stock(ATOMS, PROBS) == pytest.approx(0.0)  # VaR_0.1 = 0
    assert CVaR(0.05).best_initial_stock(ATOMS, PROBS) == pytest.approx(10.0)  # VaR_0.05 = -10
    assert CVaR(0.7).best_initial_stock(ATOMS, PROBS) == pytest.approx(-4.0)
    batch = np.stack([ATOMS, ATOMS + 1])
    assert CVaR(0.1).best_initial_stock(batch, PROBS).tolist() == [0.0, -1.0]
    assert TargetReturn(3).best_initial_stock(ATOMS) == -3.0


def test_select_initial_stock_over_a_family_of_stock_conditioned_distributions():
    # Policy pi_c is chosen per stock; here G^{pi_c} is "safe" (always 1) for c = -1 and "risky"
    # ({-4, 6}) otherwise. -c + E[min(c + G, 0)] / 0.5 is 1 at c = -1 and -4 everywhere else.
    stocks = np.array([-2.0, -1.0, 0.0, 1.0])
    family = np.array([[-4.0, 6.0], [1.0, 1.0], [-4.0, 6.0], [-4.0, 6.0]])
    objective = CVaR(0.5)
    utilities = objective.score(stocks, family)
    assert objective.value_from_utility(stocks, utilities).tolist() == pytest.approx([-4, 1, -4, -4])
    index, value = objective.select_initial_stock(stocks, utilities)
    assert (index, value) == (1, pytest.approx(1.0))
    # lower-is-better objectives pick the minimum
    target = TargetReturn(1.0)
    family = np.array([[0.0, 2.0], [1.0, 1.0]])
    idx, val = target.select_initial_stock([-1.0, -1.0], target.score(-1.0, family))
    assert (idx, val) == (1, pytest.approx(0.0))


# ------------------------------------------------------------------------------------------------
# Shapes: batches, axis, weights, and stocks scored against distributions.


def test_score_with_as_many_stocks_as_atoms_scores_each_stock():
    # Regression: stocks (K,) vs returns (N,) with K == N used to average over the stocks.
    objective = CVaR(0.5)
    got = objective.score(np.array([0.0, -1.0, -2.0]), np.array([0.0, 1.0, 2.0]))
    assert got.tolist() == pytest.approx([0.0, -1.0 / 3, -1.0])


def test_fixed_stock_value_on_a_batch_of_distributions():
    # Regression: a scalar initial stock against (B, N) returns raised an AxisError.
    returns = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    assert TargetReturn(1.0).value(returns).tolist() == pytest.approx([2 / 3, 3.0])
    assert TargetReturn(1.0).value(returns.T, axis=0).tolist() == pytest.approx([2 / 3, 3.0])
    assert ProbabilityAtLeast(2.0).value(returns).tolist() == pytest.approx([1 / 3, 1.0])


def test_one_dimensional_weights_apply_along_axis():
    returns = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    weights = np.array([1.0, 1.0, 2.0])
    expected = [(0 + 1 + 4) / 4, (3 + 4 + 10) / 4]
    assert Expectation().value(returns, weights).tolist() == pytest.approx(expected)
    assert Expectation().value(returns.T, weights, axis=0).tolist() == pytest.approx(expected)
    assert CVaR(0.5).value(returns.T, weights, axis=0).tolist() == pytest.approx([0.5, 3.5])


def test_stock_batches_broadcast_against_distribution_batches():
    objective = Expectation()
    returns = np.arange(12.0).reshape(2, 3, 2)  # batch (2, 2), atoms on axis 1
    stocks = np.array([[[10.0]], [[20.0]], [[30.0]]])  # (3, 1, 1): one per leading candidate
    got = objective.score(stocks, returns, axis=1)
    assert got.shape == (3, 2, 2)
    assert np.allclose(got[1], 20.0 + returns.mean(axis=1))


# ------------------------------------------------------------------------------------------------
# torch and numpy agree (utility, score, value), with batch axes and weights.

OBJECTIVES = [Expectation(), TargetReturn(1.5), ProbabilityAtLeast(0.5), CVaR(0.3), CVaR(1.0),
              Homeostasis(1.0, -0.5), ExpectedUtility(squared_loss, name="sq", homogeneous=False)]


@pytest.mark.parametrize("objective", OBJECTIVES, ids=str)
def test_torch_and_numpy_agree(objective):
    rng = np.random.default_rng(1)
    returns = rng.normal(size=(4, 9, 3)).round(1)  # ties included
    weights = rng.uniform(0, 1, size=(4, 9, 3))
    stock = rng.normal(size=(4, 3))
    x = rng.normal(size=(5, 7))
    assert np.allclose(objective.utility(torch.from_numpy(x)).numpy(), objective.utility(x))
    for w_np in [None, weights, weights[0, :, 0]]:
        w_t = None if w_np is None else torch.from_numpy(np.ascontiguousarray(w_np))
        got_t = objective.score(torch.from_numpy(stock), torch.from_numpy(returns), w_t, axis=1)
        assert isinstance(got_t, torch.Tensor) and got_t.shape == (4, 3)
        assert np.allclose(got_t.numpy(), objective.score(stock, returns, w_np, axis=1))
        got_t = objective.value(torch.from_numpy(returns), w_t, axis=1)
        assert isinstance(got_t, torch.Tensor) and got_t.shape == (4, 3)
        assert np.allclose(got_t.numpy(), objective.value(returns, w_np, axis=1))
    # float32 tensors stay float32, numpy weights mix in
    got32 = objective.value(torch.from_numpy(returns).float(), weights, axis=1)
    assert got32.dtype == torch.float32
    assert np.allclose(got32.numpy(), objective.value(returns, weights, axis=1), atol=1e-4)


def test_torch_cvar_search_agrees_with_numpy():
    rng = np.random.default_rng(2)
    returns = rng.integers(-5, 5, size=(6, 10)).astype(float)
    got = CVaR(0.25).best_initial_stock(torch.from_numpy(returns))
    assert np.allclose(got.numpy(), CVaR(0.25).best_initial_stock(returns))


def test_torch_integer_returns_are_promoted():
    assert float(Expectation().value(torch.tensor([1, 2, 6]))) == pytest.approx(3.0)


def test_importing_rdo_gym_does_not_import_torch():
    code = "import sys, rdo_gym, rdo_gym.dp; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------
# String forms, equality, pickling.


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_string_form_round_trips(spec):
    objective = make_objective(spec)
    assert str(objective) == spec
    assert make_objective(str(objective)) == objective
    assert pickle.loads(pickle.dumps(objective)) == objective
    assert cloudpickle.loads(cloudpickle.dumps(objective)) == objective
    assert eval(repr(objective), {"make_objective": make_objective}) == objective


def test_string_form_is_exact_for_long_floats():
    # Regression: '{:g}' kept 6 digits, so target:1.23456789 came back as target:1.23457 and two
    # different targets compared equal.
    objective = TargetReturn(1.23456789)
    assert make_objective(str(objective)).target == 1.23456789
    assert TargetReturn(1.2345671) != TargetReturn(1.2345672)
    assert make_objective(str(CVaR(1 / 3))).alpha == 1 / 3


def test_spec_parsing_is_lenient_about_case_and_spaces():
    assert make_objective(" CVaR : 0.25 ") == CVaR(0.25)
    assert make_objective("expectation") == Expectation()
    assert make_objective("homeostasis:2") == Homeostasis(2.0, 0.0)
    assert make_objective(CVaR(0.5)) is not None


def test_equality_and_hash_distinguish_kinds_and_parameters():
    assert TargetReturn(1) == TargetReturn(1.0) and hash(TargetReturn(1)) == hash(TargetReturn(1.0))
    assert TargetReturn(1) != ProbabilityAtLeast(1)
    assert CVaR(0.1) != CVaR(0.2)
    assert len({make_objective(s) for s in ALL_SPECS}) == len(ALL_SPECS)


def test_expected_utility_pickles_with_cloudpickle():
    objective = ExpectedUtility(lambda x: -(x * x), name="neg_sq", initial_stock=2.0)
    clone = cloudpickle.loads(cloudpickle.dumps(objective))
    assert clone.value([1.0, -3.0]) == pytest.approx(objective.value([1.0, -3.0]))
    named = ExpectedUtility(squared_loss, name="sq")
    assert pickle.loads(pickle.dumps(named)) == named


# ------------------------------------------------------------------------------------------------
# gamma validity.


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_shipped_objectives_accept_any_gamma_in_range(spec):
    objective = make_objective(spec)
    assert objective.check_gamma(0.9) == 0.9
    assert objective.check_gamma(1) == 1.0
    for bad in [0.0, -0.5, 1.01, float("nan"), "x", None]:
        with pytest.raises(ValueError, match="gamma"):
            objective.check_gamma(bad)


def test_non_homogeneous_utility_is_refused_with_gamma_below_one():
    objective = ExpectedUtility(squared_loss, name="sq")
    assert objective.check_gamma(1.0) == 1.0
    with pytest.raises(ValueError, match=r"utility:sq.*gamma=0\.99.*gamma=1"):
        objective.check_gamma(0.99)
    assert ExpectedUtility(squared_loss, name="sq", homogeneous=True).check_gamma(0.99) == 0.99
    assert check_gamma(0.5) == 0.5


# ------------------------------------------------------------------------------------------------
# Bad inputs (DESIGN.md section 4): each raises, naming the argument and what is accepted.


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5, float("nan"), float("inf"), "a", None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        CVaR(alpha)


@pytest.mark.parametrize("factory, name", [(TargetReturn, "target"), (ProbabilityAtLeast, "threshold"),
                                           (Homeostasis, "setpoint")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "five", None])
def test_bad_parameters(factory, name, bad):
    with pytest.raises(ValueError, match=name):
        factory(bad)


@pytest.mark.parametrize("spec, match", [
    ("cvar", "takes 1 argument"), ("cvar:0.1:2", "takes 1 argument"), ("mean:1", "takes 0"),
    ("homeostasis:1:2:3", "1 to 2"), ("cvar:abc", "malformed"), ("cvar:2", "alpha"),
    ("quantile:0.5", "unknown objective"), ("", "unknown objective"), ("utility:sq", "ExpectedUtility"),
    ("target:nan", "target"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        make_objective(spec)


def test_non_string_spec():
    with pytest.raises(TypeError, match="string spec"):
        make_objective(0.1)


@pytest.mark.parametrize("returns, weights, match", [
    ([], None, "at least one"),
    ([1.0, float("nan")], None, "finite"),
    ([1.0, float("inf")], None, "finite"),
    ([1.0, 2.0], [0.5, -0.5], "non-negative"),
    ([1.0, 2.0], [0.0, 0.0], "positive sum"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], "weights"),
    ([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0, 3.0], "length"),
    (5.0, None, "at least one dimension"),
])
@pytest.mark.parametrize("objective", [Expectation(), CVaR(0.5), TargetReturn(1.0)], ids=str)
def test_bad_distributions(objective, returns, weights, match):
    with pytest.raises(ValueError, match=match):
        objective.value(returns, weights)


def test_bad_axis():
    with pytest.raises(ValueError, match="axis=2"):
        Expectation().value(np.zeros((2, 3)), axis=2)


def test_bad_expected_utility_arguments():
    with pytest.raises(TypeError, match="callable"):
        ExpectedUtility(3.0)
    for name in ["", "a:b", "a b", 7]:
        with pytest.raises(ValueError, match="name"):
            ExpectedUtility(squared_loss, name=name)
    with pytest.raises(ValueError, match="initial_stock"):
        ExpectedUtility(squared_loss, initial_stock=float("nan"))


def test_select_initial_stock_shape_mismatch():
    with pytest.raises(ValueError, match="same length"):
        CVaR(0.5).select_initial_stock([0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="non-empty"):
        CVaR(0.5).select_initial_stock([], [])


def test_select_initial_stock_refuses_nan_candidates():
    # Regression: np.argmax returns the first NaN, so a NaN utility won the search silently.
    with pytest.raises(ValueError, match="candidate stock 0 has value NaN"):
        CVaR(0.5).select_initial_stock([0.0, 1.0, 2.0], [float("nan"), 0.0, 0.0])
    index, _ = TargetReturn(0).select_initial_stock([0.0, 0.0], [-np.inf, -1.0])
    assert index == 1  # -inf utilities (impossible candidates) are allowed and lose


# -- fixed or searched initial stock: one protocol for the DP, the agent and the evaluation -------
@pytest.mark.parametrize("spec, searched", [("mean", False), ("target:4", False), ("prob:2", False),
                                            ("homeostasis:1", False), ("cvar:0.25", True)])
def test_searches_initial_stock_matches_initial_stock(spec, searched):
    obj = make_objective(spec)
    assert obj.searches_initial_stock is searched
    assert (obj.initial_stock is None) is searched


def test_initial_stock_candidates_fixed_objective_ignores_the_candidates():
    obj = make_objective("target:4")
    np.testing.assert_array_equal(obj.initial_stock_candidates([1.0, 2.0, 3.0]), [-4.0])
    np.testing.assert_array_equal(obj.initial_stock_candidates(), [-4.0])


def test_initial_stock_candidates_searched_objective_uses_the_candidates():
    obj = make_objective("cvar:0.5")
    np.testing.assert_array_equal(obj.initial_stock_candidates([[1, 2], [3, 4]]), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="searches its initial stock"):
        obj.initial_stock_candidates()
    with pytest.raises(ValueError, match="finite and non-empty"):
        obj.initial_stock_candidates([0.0, float("nan")])
    with pytest.raises(ValueError, match="finite and non-empty"):
        obj.initial_stock_candidates([])


def test_candidates_and_select_recover_the_cvar_of_one_distribution():
    # one fixed distribution for every stock: the outer search over candidates gives CVaR itself
    obj = make_objective("cvar:0.3")
    returns = np.array([-3.0, 0.0, 1.0, 5.0])
    stocks = obj.initial_stock_candidates(np.arange(-6.0, 7.0))
    utilities = obj.score(stocks, returns)
    idx, value = obj.select_initial_stock(stocks, utilities)
    assert value == pytest.approx(obj.value(returns)) and value == pytest.approx(-2.5)
    assert stocks[idx] == pytest.approx(obj.best_initial_stock(returns))
