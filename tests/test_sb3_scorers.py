"""Unit tests of DηN's scorers, tie-breaking and stock writing (no training)."""

import numpy as np
import pytest
import torch as th

from rdo_gym import CVaR, Expectation, ExpectedUtility, Homeostasis, ProbabilityAtLeast, StockLayout, TargetReturn
from rdo_sb3 import NaiveScorer, StockScorer, greedy_with_random_ties, make_scorer
from rdo_sb3.scorers import greedy_with_random_ties_numpy, resolve_tie_break
from rdo_sb3.stock_input import write_stocks


def flat(index, scale):
    return StockLayout(1.0, scale, None, index, None)


def dict_layout(scale):
    return StockLayout(1.0, scale, "stock", None, None)

# quantiles (batch=2, n_quantiles=4, n_actions=2): column a holds theta_1..4 of action a
THETA = th.tensor([
    [[0.0, 3.0], [1.0, 3.0], [2.0, 3.0], [13.0, 3.0]],
    [[-4.0, 1.0], [0.0, 1.0], [4.0, 1.0], [8.0, 1.0]],
])
THETA_NP = THETA.numpy().astype(np.float64)


def _flat_obs(stocks, scale):
    """Flat observations [x, scale * c] for the given unscaled stocks."""
    return th.tensor([[0.5, scale * c] for c in stocks], dtype=th.float32)


@pytest.mark.parametrize("objective, f", [
    (TargetReturn(4.0), lambda x: -np.abs(x)),
    (CVaR(0.25), lambda x: np.minimum(x, 0.0)),
    (ProbabilityAtLeast(2.0), lambda x: (x >= 0).astype(float)),
    (Homeostasis(1.0), lambda x: -np.abs(x)),
])
def test_scores_match_hand_computation(objective, f):
    stocks = [-3.0, 2.5]
    scale = 0.5
    hook = StockScorer(objective, flat(1, scale))
    got = hook.scores(THETA, _flat_obs(stocks, scale)).numpy()
    for b, c in enumerate(stocks):
        for a in range(2):
            expected = np.mean([f(c + q) for q in THETA_NP[b, :, a]])
            assert got[b, a] == pytest.approx(expected, abs=1e-6)


def test_score_example_by_hand():
    # target 4 at stock c = -3: action 0: mean(-|-3+0|, -|-3+1|, -|-3+2|, -|-3+13|) = -(3+2+1+10)/4 = -4
    # action 1: -|-3+3| = 0  -> action 1 is greedy although action 0 has the larger mean (4 > 3)
    hook = StockScorer(TargetReturn(4.0), dict_layout(1.0))
    obs = {"observation": th.zeros(2, 1), "stock": th.tensor([[-3.0], [0.0]])}
    scores = hook.scores(THETA, obs)
    assert scores[0].tolist() == pytest.approx([-4.0, 0.0])
    assert hook.greedy_actions(THETA, obs)[0].item() == 1
    assert THETA.mean(dim=1)[0].argmax().item() == 0


def test_dict_stock_reads_last_entry_and_scale():
    loc = dict_layout(0.1)
    obs = {"stock": th.tensor([[5.0], [-2.0]])}
    assert loc.read(obs).tolist() == pytest.approx([50.0, -20.0])
    written = write_stocks(loc, obs, th.tensor([1.0, 2.0]))
    assert written["stock"].flatten().tolist() == pytest.approx([0.1, 0.2])
    assert obs["stock"].tolist() == [[5.0], [-2.0]]  # not modified in place


def test_naive_scores_use_return_to_go_statistic():
    # CVaR_0.25 of 4 equally likely atoms = the lowest atom; the stock is ignored
    hook = NaiveScorer(CVaR(0.25))
    scores = hook.scores(THETA, None)
    assert scores.flatten().tolist() == pytest.approx([0.0, 3.0, -4.0, 1.0])
    # target 4 on G (no stock): -E|G - 4|; action 0 row 0: -(4+3+2+9)/4 = -4.5, action 1: -1
    hook = NaiveScorer(TargetReturn(4.0))
    assert hook.scores(THETA, None)[0].tolist() == pytest.approx([-4.5, -1.0])


def test_expectation_score_is_the_mean():
    hook = StockScorer(Expectation(), flat(1, 1.0))
    obs = _flat_obs([100.0, -7.0], 1.0)
    assert th.equal(hook.scores(THETA, obs), THETA.mean(dim=1))


def test_ties_are_broken_uniformly_at_random():
    th.manual_seed(0)
    scores = th.tensor([[1.0, 0.0, 1.0, 1.0]]).repeat(3000, 1)
    actions = greedy_with_random_ties(scores).numpy()
    counts = np.bincount(actions, minlength=4) / len(actions)
    assert counts[1] == 0.0
    assert counts[[0, 2, 3]] == pytest.approx([1 / 3] * 3, abs=0.04)
    # without ties: the argmax, always
    assert greedy_with_random_ties(th.tensor([[0.0, 2.0, 1.0]] * 50)).tolist() == [1] * 50


def test_probability_objective_ties_in_acting():
    # every quantile of both actions clears the threshold from stock 0 -> scores tie at 1
    th.manual_seed(1)
    hook = StockScorer(ProbabilityAtLeast(0.0), flat(1, 1.0), tie_break="random")
    quantiles = th.tensor([[[1.0, 5.0]] * 4]).repeat(2000, 1, 1)
    actions = hook.greedy_actions(quantiles, _flat_obs([0.0] * 2000, 1.0))
    assert 0.45 < actions.float().mean().item() < 0.55
    # the "mean" rule ranks the tied actions by the mean of G: action 1 (mean 5), always
    assert StockScorer(ProbabilityAtLeast(0.0), flat(1, 1.0)).tie_rule == "mean"  # "auto", the default
    by_mean = StockScorer(ProbabilityAtLeast(0.0), flat(1, 1.0), tie_break="mean")
    assert by_mean.greedy_actions(quantiles, _flat_obs([0.0] * 2000, 1.0)).tolist() == [1] * 2000


def test_flat_stock_write_and_make_scorer():
    loc = flat(1, 0.5)
    obs = _flat_obs([3.0, -1.0], 0.5)
    assert loc.read(obs).tolist() == pytest.approx([3.0, -1.0])
    written = write_stocks(loc, obs, th.tensor([8.0, 0.0]))
    assert written[:, 1].tolist() == pytest.approx([4.0, 0.0]) and written[:, 0].tolist() == [0.5, 0.5]
    assert obs[:, 1].tolist() == pytest.approx([1.5, -0.5])  # not modified in place
    assert isinstance(make_scorer(CVaR(0.1), None, naive=True), NaiveScorer)
    assert isinstance(make_scorer(CVaR(0.1), loc), StockScorer)
    with pytest.raises(ValueError, match="StockLayout"):
        make_scorer(CVaR(0.1), None)


def test_numpy_tie_breaking_twin():
    np.random.seed(0)
    scores = np.tile(np.array([[2.0, 2.0, -1.0]]), (3000, 1))
    counts = np.bincount(greedy_with_random_ties_numpy(scores), minlength=3) / 3000
    assert counts[2] == 0.0 and counts[:2] == pytest.approx([0.5, 0.5], abs=0.04)
    assert greedy_with_random_ties_numpy(np.array([[0.0, 3.0, 1.0]] * 20)).tolist() == [1] * 20


@pytest.mark.parametrize("objective", [TargetReturn(1.0), CVaR(0.3), ProbabilityAtLeast(-0.5), Expectation()])
@pytest.mark.parametrize("naive", [False, True])
def test_numpy_and_torch_paths_choose_alike(objective, naive):
    th.manual_seed(0)
    hook = make_scorer(objective, flat(1, 0.5), naive=naive)
    quantiles = th.randn(400, 16, 3)
    obs = _flat_obs(np.random.default_rng(0).uniform(-3, 3, 400), 0.5)
    fast = hook.greedy_actions(quantiles, obs)  # CPU, no grad: numpy path
    slow = hook.greedy_actions(quantiles.clone().requires_grad_(True), obs)  # torch path
    scores = hook.scores(quantiles, obs)
    best = scores.max(dim=1).values
    # both pick a maximizer of the same scores (they may break exact ties differently)
    assert th.equal(scores.gather(1, fast.view(-1, 1)).view(-1), best)
    assert th.equal(scores.gather(1, slow.view(-1, 1)).view(-1), best)
    assert fast.dtype == th.int64 and fast.shape == (400,)


# -- ties of flat utilities ------------------------------------------------------------------------
# prob:2 from its stock c0 = -2: action 0 has quantiles (0, 0, 1, 1), action 1 (1, 1, 1, 1.5), action 2 (3, 3, 3, 3):
# actions 0 and 1 both score 0 (no quantile reaches 2); action 2 scores 1.
TIED = th.tensor([[[0.0, 1.0, 3.0], [0.0, 1.0, 3.0], [1.0, 1.0, 3.0], [1.0, 1.5, 3.0]]])


@pytest.mark.parametrize("grad", [False, True])
def test_mean_tie_break_never_overrides_the_objective(grad):
    scorer = StockScorer(ProbabilityAtLeast(2.0), flat(1, 1.0), tie_break="mean")
    q = TIED.clone().requires_grad_(grad)
    obs = _flat_obs([-2.0], 1.0)
    assert scorer.scores(TIED, obs).tolist() == [[0.0, 0.0, 1.0]]
    assert scorer.greedy_actions(q, obs).tolist() == [2]  # the best score wins, whatever the means


@pytest.mark.parametrize("grad", [False, True])
def test_mean_tie_break_ranks_tied_actions_by_the_mean(grad):
    scorer = StockScorer(ProbabilityAtLeast(5.0), flat(1, 1.0), tie_break="mean")  # every action scores 0
    obs = _flat_obs([-5.0] * 200, 1.0)
    q = TIED.repeat(200, 1, 1).requires_grad_(grad)
    assert scorer.greedy_actions(q, obs).tolist() == [2] * 200  # the largest mean, never random
    random = StockScorer(ProbabilityAtLeast(5.0), flat(1, 1.0), tie_break="random")
    th.manual_seed(0)
    np.random.seed(0)
    assert set(random.greedy_actions(q, obs).tolist()) == {0, 1, 2}


def test_mean_tie_break_in_naive_mode_and_errors():
    naive = NaiveScorer(ProbabilityAtLeast(5.0), tie_break="mean")
    assert naive.greedy_actions(TIED, None).tolist() == [2]
    with pytest.raises(ValueError, match=r"tie_break must be one of \('auto', 'random', 'mean'\), got 'first'"):
        StockScorer(CVaR(0.1), flat(1, 1.0), tie_break="first")


@pytest.mark.parametrize("objective, rule", [(ProbabilityAtLeast(5.0), "mean"), (CVaR(0.1), "random"),
                                             (TargetReturn(0.0), "random"), (Expectation(), "random")])
def test_auto_tie_break_is_mean_exactly_for_flat_utilities(objective, rule):
    assert resolve_tie_break("auto", objective) == rule
    assert resolve_tie_break("random", objective) == "random" and resolve_tie_break("mean", objective) == "mean"
    for scorer in (StockScorer(objective, flat(1, 1.0)), NaiveScorer(objective)):
        assert scorer.tie_break == "auto" and scorer.tie_rule == rule


def test_auto_tie_break_acts_like_the_rule_it_resolves_to():
    # prob:5 from c0 = -5: every action scores 0; "auto" ranks them by the mean like "mean" (action 2, always)
    obs = _flat_obs([-5.0] * 200, 1.0)
    auto = StockScorer(ProbabilityAtLeast(5.0), flat(1, 1.0))
    assert auto.greedy_actions(TIED.repeat(200, 1, 1), obs).tolist() == [2] * 200
    # CVaR's min(x, 0) ties above 0: "auto" stays uniform there (all three actions come up)
    cvar = StockScorer(CVaR(0.5), flat(1, 1.0))
    th.manual_seed(0)
    np.random.seed(0)
    assert set(cvar.greedy_actions(TIED.repeat(200, 1, 1), _flat_obs([10.0] * 200, 1.0)).tolist()) == {0, 1, 2}


def test_auto_tie_break_reads_a_users_declared_flat_utility():
    step = ExpectedUtility(lambda x: (x >= 0) * 1.0, name="step", initial_stock=-5.0, flat_utility=True)
    smooth = ExpectedUtility(lambda x: -abs(x), name="dist", initial_stock=-5.0)
    assert step.flat_utility and not smooth.flat_utility and "flat_utility=True" in repr(step)
    assert StockScorer(step, flat(1, 1.0)).tie_rule == "mean"
    assert StockScorer(smooth, flat(1, 1.0)).tie_rule == "random"
    # every action scores 0 from c0 = -5: the declared flat utility ranks them by the mean (action 2)
    assert StockScorer(step, flat(1, 1.0)).greedy_actions(TIED.repeat(50, 1, 1), _flat_obs([-5.0] * 50, 1.0)).tolist() \
        == [2] * 50
