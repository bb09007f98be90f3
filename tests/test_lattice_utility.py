"""`Objective.lattice_utility`: equal to the utility on lattice returns, robust to estimates of an
atom that miss it by a hair (prob: thresholds on an atom), and wired into DηN's scorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rdo_gym import make_objective
from rdo_gym.objectives import ProbabilityAtLeast

OBJECTIVES = ["mean", "target:2", "prob:1", "prob:0.5", "prob:-3", "cvar:0.2", "meancvar:0.1:0.5",
              "homeostasis:1"]
steps = st.sampled_from([1.0, 0.5, 0.25, 2.0, 1.5])


@settings(max_examples=200, deadline=None)
@given(spec=st.sampled_from(OBJECTIVES), step=steps,
       stock_units=st.integers(-20, 20), threshold_units=st.integers(-20, 20),
       units=st.lists(st.integers(-30, 30), min_size=1, max_size=12))
def test_equals_the_utility_on_the_lattice(spec, step, stock_units, threshold_units, units):
    """For returns-to-go on step * Z, the lattice utility is the utility, for stocks on and off the
    lattice (an off-lattice stock: a prob: threshold between atoms)."""
    obj = make_objective(spec)
    returns = np.asarray(units, dtype=np.float64) * step
    for stock in (stock_units * step, stock_units * step + 0.3 * step):
        expected = obj.utility(stock + returns)
        np.testing.assert_array_equal(obj.lattice_utility(stock, returns, step), expected)
    if isinstance(obj, ProbabilityAtLeast):  # prob:g with c = -g: the threshold itself on the lattice
        stock = -threshold_units * step
        np.testing.assert_array_equal(obj.lattice_utility(stock, returns, step),
                                      (returns >= threshold_units * step).astype(float))


@settings(max_examples=100, deadline=None)
@given(step=steps, k=st.integers(-10, 10), hair=st.floats(1e-6, 0.49))
def test_prob_counts_an_atom_estimated_a_hair_short(step, k, hair):
    """The failure this exists for: a learned quantile of the atom k*step just below it still reaches
    the threshold k*step, while the atom below (k-1)*step, estimated a hair above, does not."""
    obj = ProbabilityAtLeast(k * step)
    c = -k * step
    assert obj.utility(c + (k - hair) * step) == 0.0  # the plain indicator misses it
    assert obj.lattice_utility(c, (k - hair) * step, step) == 1.0
    assert obj.lattice_utility(c, (k - 1 + hair) * step, step) == 0.0
    assert obj.lattice_utility(c, (k + hair) * step, step) == 1.0


def test_prob_snaps_float32_stocks_and_matches_torch():
    obj = make_objective("prob:1")
    # a float32 stock of -1 read back from an observation, and float32 reward sums: 0.1 * 10 != 1
    stock32 = np.float32(-0.1) * 10
    assert obj.lattice_utility(stock32, np.float32(0.999), 0.1) == 1.0  # the atom 1, a hair short
    assert obj.lattice_utility(stock32, np.float32(0.96), 0.1) == 1.0
    assert obj.lattice_utility(stock32, np.float32(0.94), 0.1) == 0.0  # the atom 0.9, a bit above
    stocks = np.array([-1.0, -0.4, 2.0, -7.25])
    quantiles = np.random.default_rng(0).normal(0.5, 2.0, size=(4, 9, 3))
    out_np = obj.lattice_utility(stocks[:, None, None], quantiles, 0.5)
    out_th = obj.lattice_utility(torch.tensor(stocks)[:, None, None], torch.tensor(quantiles), 0.5)
    np.testing.assert_array_equal(out_np, out_th.numpy())
    assert out_th.dtype == torch.float64


@settings(max_examples=200, deadline=None)
@given(spec=st.sampled_from(["target:2", "cvar:0.2", "meancvar:0.1:0.5", "homeostasis:1", "prob:1"]), step=steps,
       stock_units=st.integers(-20, 20), units=st.lists(st.integers(-30, 30), min_size=1, max_size=12),
       misses=st.lists(st.floats(-0.49, 0.49), min_size=12, max_size=12))
def test_an_estimate_within_half_a_step_scores_as_its_atom(spec, step, stock_units, units, misses):
    """Quantiles that miss their lattice atom by less than half a step are read as the atom, also at a
    kink of the utility (the atom -c: -|x| of a target, min(x, 0) of CVaR), on numpy and torch alike."""
    obj = make_objective(spec)
    atoms = np.asarray(units, dtype=np.float64) * step
    estimates = atoms + np.asarray(misses[:len(units)]) * step
    stock = stock_units * step
    expected = obj.utility(stock + atoms)
    np.testing.assert_allclose(obj.lattice_utility(stock, estimates, step), expected, rtol=0, atol=1e-9)
    out_th = obj.lattice_utility(torch.tensor(stock, dtype=torch.float64), torch.tensor(estimates), step)
    np.testing.assert_allclose(out_th.numpy(), expected, rtol=0, atol=1e-9)


def test_kinked_utilities_no_longer_pay_for_scattered_estimates_of_the_target_atom():
    # target:0 from c = 0: a sure return of 0 estimated as +-0.2 scores -0.2 on the plain utility, 0 on the lattice
    obj = make_objective("target:0")
    scattered = np.array([-0.2, 0.2, -0.1, 0.1])
    assert obj.utility(0.0 + scattered).mean() == pytest.approx(-0.15)
    assert obj.lattice_utility(0.0, scattered, 1.0).mean() == 0.0
    # ... so it beats an action with a sure return of 1 (plain: -0.15 vs -1.0 either way; and against a
    # 50/50 gamble on -1 and +1, mean -1.0 on both readings: the order is kept)
    assert obj.lattice_utility(0.0, np.array([-1.0, 1.0]), 1.0).mean() == -1.0


def test_the_mean_is_not_rounded():
    obj = make_objective("mean")
    returns = np.array([0.3, 1.7])
    np.testing.assert_array_equal(obj.lattice_utility(0.0, returns, 1.0), returns)
    with pytest.raises(ValueError, match="step"):
        obj.lattice_utility(0.0, returns, 0.0)


@pytest.mark.parametrize("step", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_step_is_named(step):
    with pytest.raises(ValueError, match="step"):
        make_objective("prob:1").lattice_utility(-1.0, np.array([1.0]), step)


# ----------------------------------------------------------------------------------------------
# DηN's scorer with return_step
from rdo_gym import StockLayout  # noqa: E402
from rdo_sb3 import StockScorer, make_scorer  # noqa: E402


def test_scorer_prefers_the_sure_success_estimated_a_hair_short():
    """FrozenLake at its last step, prob:1, stock -1: action 0 reaches the goal surely (learned
    quantiles 0.98..1.01 around the atom 1), action 1 with probability 1/2 (quantiles 0 and ~1.02).
    The plain indicator prefers action 1 (it counts 2 of 4 against 2 of 4 at best, ties or worse);
    the lattice scorer sees action 0 as the sure success it is."""
    theta = torch.tensor([[[0.98, 0.0], [0.99, 0.0], [1.0, 1.02], [1.01, 1.02]]])
    obs = torch.tensor([[0.0, -1.0]])
    layout = StockLayout(1.0, 1.0, None, 1, None)
    plain = StockScorer(make_objective("prob:1"), layout)
    lattice = StockScorer(make_objective("prob:1"), layout, return_step=1.0)
    assert plain.scores(theta, obs)[0].tolist() == [0.5, 0.5]
    assert lattice.scores(theta, obs)[0].tolist() == [1.0, 0.5]
    assert lattice.greedy_actions(theta, obs).item() == 0
    assert "return_step=1.0" in repr(lattice)


def test_scorer_return_step_checks():
    layout = StockLayout(1.0, 1.0, None, 1, None)
    for bad in (0, -0.5, "one", float("nan"), True):
        with pytest.raises(ValueError, match="return_step"):
            make_scorer(make_objective("prob:1"), layout, return_step=bad)
    with pytest.raises(ValueError, match="gamma = 1"):
        make_scorer(make_objective("prob:1"), StockLayout(0.99, 1.0, None, 1, None), return_step=1.0)
    assert make_scorer(make_objective("prob:1"), layout, return_step=0.5).return_step == 0.5


def test_detan_return_step_trains_saves_and_checks(tmp_path):
    import gymnasium as gym

    import rdo_envs
    from rdo_gym import StockAugmentation
    from rdo_sb3 import DEtaN

    env = rdo_envs.make_external_env("FrozenLake-v1", "prob:1")
    model = DEtaN("MlpPolicy", env, objective="prob:1", return_step=1.0, learning_starts=50, seed=0,
                  policy_kwargs=dict(n_quantiles=8, net_arch=[16])).learn(120)
    assert model.scorer.return_step == 1.0
    model.set_objective("prob:0.5")
    assert model.scorer.return_step == 1.0
    model.save(tmp_path / "m.zip")
    loaded = DEtaN.load(tmp_path / "m.zip", env=env)
    assert loaded.scorer.return_step == 1.0 and str(loaded.objective) == "prob:0.5"
    naive = DEtaN("MlpPolicy", env, objective="prob:1", naive=True, return_step=1.0)
    assert naive.scorer.return_step == 1.0
    with pytest.raises(ValueError, match="return_step"):
        DEtaN("MlpPolicy", env, objective="prob:1", return_step=-1)
    discounted = StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, initial_stock=-10.0, flatten=True)
    with pytest.raises(ValueError, match="gamma = 1"):
        DEtaN("MlpPolicy", discounted, objective="prob:10", return_step=1.0)
