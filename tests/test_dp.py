"""rdo_gym.dp: Monte Carlo, closed-form cases, FrozenLake, the naive CVaR baseline, bad inputs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdo_gym.dp import (
    TabularMDP,
    TabularPolicy,
    evaluate,
    naive_cvar_policy,
    risk_neutral_policy,
    solve,
)
from rdo_gym.objectives import CVaR, Expectation, ExpectedUtility, ProbabilityAtLeast, TargetReturn


def random_mdp(seed: int, S: int = 5, A: int = 3, M: int = 3, horizon: int | None = 6,
               p_terminate: float = 0.1, r_max: int = 3) -> TabularMDP:
    rng = np.random.default_rng(seed)
    prob = rng.dirichlet(np.ones(M), size=(S, A))
    nxt = rng.integers(0, S, size=(S, A, M))
    rew = rng.integers(-r_max, r_max + 1, size=(S, A, M))
    term = rng.random((S, A, M)) < p_terminate
    return TabularMDP(prob, nxt, rew, term, np.full(S, 1.0 / S), horizon)


def rollout(mdp: TabularMDP, policy, c0: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sample n returns of ``policy`` (a TabularPolicy) started at stock c0, by simulation."""
    S = mdp.n_states
    s = rng.choice(S, size=n, p=mdp.initial)
    stock = np.full(n, float(c0))
    active = np.ones(n, dtype=bool)
    t = 0
    while active.any() and (mdp.horizon is None or t < mdp.horizon):
        i = np.flatnonzero(active)
        a = policy.actions(s[i], stock[i], t)
        cdf = np.cumsum(mdp.prob[s[i], a], axis=1)
        m = np.minimum((cdf < rng.random(i.size)[:, None]).sum(1), mdp.n_outcomes - 1)
        stock[i] += mdp.reward[s[i], a, m]
        active[i] = ~mdp.terminated[s[i], a, m]
        s[i] = mdp.next_state[s[i], a, m]
        t += 1
    return stock - c0


# --------------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("spec", ["cvar:0.2", "target:4", "prob:2", "mean"])
def test_monte_carlo_reproduces_return_distribution(spec):
    mdp = random_mdp(3)
    sol = solve(mdp, spec)
    atoms, probs = sol.return_distribution
    n = 40_000
    G = rollout(mdp, sol.policy, sol.initial_stock, n, np.random.default_rng(0))
    assert set(np.unique(G).tolist()) <= set(atoms.tolist())
    freq = np.array([(G == x).mean() for x in atoms])
    tol = 5 * np.sqrt(probs * (1 - probs) / n) + 1e-3
    assert np.all(np.abs(freq - probs) <= tol), np.max(np.abs(freq - probs) - tol)
    assert sol.objective.value(G) == pytest.approx(sol.value, abs=0.1 * (1 + abs(sol.value)))


def test_monte_carlo_detects_a_wrong_distribution():
    """The check above has power: the law of another policy is rejected."""
    mdp = random_mdp(3)
    sol = solve(mdp, "cvar:0.2")
    other = solve(mdp, "mean")
    G = rollout(mdp, other.policy, 0.0, 40_000, np.random.default_rng(0))
    atoms, probs = sol.return_distribution
    freq = np.array([(G == x).mean() for x in atoms])
    assert np.max(np.abs(freq - probs) - (5 * np.sqrt(probs * (1 - probs) / 40_000) + 1e-3)) > 0


# ------------------------------------------------------------------------------- known cases
def bandit(risky_hi: float = 10, risky_lo: float = -5, safe: float = 1) -> TabularMDP:
    return TabularMDP.from_outcomes(
        {0: {0: [(1.0, 0, safe, True)], 1: [(0.5, 0, risky_hi, True), (0.5, 0, risky_lo, True)]}},
        [1.0], horizon=1)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 1.0))
def test_two_armed_bandit_closed_form_cvar(alpha):
    # Arm 0: reward 1. Arm 1: 10 or -5 with probability 1/2 each, so
    # CVaR_alpha = -5 for alpha <= 1/2 and (-2.5 + 10 (alpha - 1/2)) / alpha above.
    risky = -5.0 if alpha <= 0.5 else (-2.5 + 10 * (alpha - 0.5)) / alpha
    sol = solve(bandit(), CVaR(alpha))
    assert sol.value == pytest.approx(max(1.0, risky), abs=1e-9)
    arm = sol.policy.action(0, sol.initial_stock, 0)
    if abs(risky - 1.0) > 1e-6:
        assert arm == int(risky > 1.0)
        # c0* = -VaR_alpha(G): -1 for the safe arm; -(-5) or -10 for the risky one.
        expected_c0 = -1.0 if risky < 1.0 else (5.0 if alpha <= 0.5 else -10.0)
        assert sol.initial_stock == expected_c0


def standard_value_iteration(P: dict, horizon: int | None, start: int) -> float:
    """Plain (non-distributional) value iteration on a toy-text table: max expected reward."""
    S = len(P)
    V = [0.0] * S
    for _ in range(horizon if horizon is not None else 10_000):
        V = [max(sum(p * (r + (0.0 if done else V[s2])) for p, s2, r, done in P[s][a]) for a in P[s])
             for s in range(S)]
    return V[start]


@pytest.mark.parametrize("map_name,horizon", [("4x4", 6), ("4x4", 10), ("4x4", 30), ("8x8", 40)])
def test_frozenlake_probability_of_goal_matches_value_iteration(map_name, horizon):
    env = gym.make("FrozenLake-v1", map_name=map_name, is_slippery=True)
    mdp = TabularMDP.from_gymnasium(env, horizon=horizon)
    sol = solve(mdp, ProbabilityAtLeast(1))
    expected = standard_value_iteration(env.unwrapped.P, horizon, 0)
    assert expected > 0
    assert sol.value == pytest.approx(expected, abs=1e-10)
    # The risk-neutral policy maximizes the same quantity (rewards are 0/1 at the goal).
    assert evaluate(mdp, risk_neutral_policy(mdp), ProbabilityAtLeast(1)).value == pytest.approx(expected, abs=1e-10)


def test_frozenlake_without_horizon():
    env = gym.make("FrozenLake-v1", is_slippery=True)
    mdp = TabularMDP.from_gymnasium(env)
    expected = standard_value_iteration(env.unwrapped.P, None, 0)
    for method in ("value_iteration", "policy_iteration"):
        sol = solve(mdp, ProbabilityAtLeast(1), method=method)
        assert sol.value == pytest.approx(expected, abs=1e-8)
        assert sol.truncated_mass < 1e-11
    assert expected == pytest.approx(0.8235, abs=1e-3)  # the well-known optimum of slippery 4x4


def test_no_horizon_acyclic_matches_horizon():
    """Without a horizon, an MDP that always ends within S steps gives the horizon-S results."""
    rng = np.random.default_rng(5)
    S, A, M = 6, 2, 2
    prob = rng.dirichlet(np.ones(M), size=(S, A))
    nxt = np.minimum(np.arange(S)[:, None, None] + rng.integers(1, 3, size=(S, A, M)), S - 1)
    rew = rng.integers(-2, 3, size=(S, A, M))
    term = nxt == S - 1
    mdp = TabularMDP(prob, nxt, rew, term, np.eye(S)[0])
    for spec in ("cvar:0.25", "target:2", "prob:1", "mean"):
        for method in ("value_iteration", "policy_iteration"):
            free, fixed = solve(mdp, spec, method=method), solve(mdp.with_horizon(S), spec)
            assert free.value == pytest.approx(fixed.value, abs=1e-9), spec
            assert free.initial_stock == fixed.initial_stock


# --------------------------------------------------------------------------- baselines
def naive_trap() -> TabularMDP:
    """Step 1: reward 0 or 10 (prob 1/2). Step 2: safe (0) or risky (+3 / -1, prob 1/2).

    CVaR_0.5(G) only sees the branch with reward 0 of step 1, where the risky arm has the higher
    mean: optimal CVaR_0.5 = 1. The naive policy compares CVaR_0.5 of the step-2 rewards alone
    (0 vs -1), plays safe, and gets CVaR_0.5(G) = 0.
    """
    return TabularMDP.from_outcomes({
        0: {0: [(0.5, 1, 0, False), (0.5, 1, 10, False)], 1: [(0.5, 1, 0, False), (0.5, 1, 10, False)]},
        1: {0: [(1.0, 1, 0, True)], 1: [(0.5, 1, 3, True), (0.5, 1, -1, True)]},
    }, [1.0, 0.0], horizon=2)


def test_naive_cvar_policy_strictly_worse_than_stock_augmented_optimum():
    mdp = naive_trap()
    sol = solve(mdp, "cvar:0.5")
    naive = naive_cvar_policy(mdp, 0.5)
    assert sol.value == pytest.approx(1.0)
    assert naive.action(1, 0.0, 1) == 0
    naive_value = evaluate(mdp, naive, "cvar:0.5").value
    assert naive_value == pytest.approx(0.0)
    assert sol.value > naive_value + 0.5


def test_naive_and_risk_neutral_on_random_mdps_never_beat_the_optimum():
    for seed in range(5):
        mdp = random_mdp(seed)
        for alpha in (0.1, 0.5):
            opt = solve(mdp, CVaR(alpha)).value
            assert evaluate(mdp, naive_cvar_policy(mdp, alpha), CVaR(alpha)).value <= opt + 1e-9
            assert evaluate(mdp, risk_neutral_policy(mdp), CVaR(alpha)).value <= opt + 1e-9
        rn = evaluate(mdp, risk_neutral_policy(mdp), Expectation()).value
        assert rn == pytest.approx(solve(mdp, "mean").value, abs=1e-9)


def test_naive_equals_optimum_with_one_step():
    mdp = bandit()
    for alpha in (0.2, 0.9):
        assert evaluate(mdp, naive_cvar_policy(mdp, alpha), CVaR(alpha)).value == pytest.approx(
            solve(mdp, CVaR(alpha)).value)


def test_risk_neutral_policy_without_horizon_is_stationary():
    env = gym.make("FrozenLake-v1", is_slippery=True)
    mdp = TabularMDP.from_gymnasium(env)
    pol = risk_neutral_policy(mdp)
    assert pol.table.shape == (16,)
    assert evaluate(mdp, pol, "mean").value == pytest.approx(0.8235, abs=1e-3)


# ------------------------------------------------------------------------- evaluate / policies
def test_evaluate_accepts_arrays_callables_and_policy_objects():
    mdp = random_mdp(11)
    sol = solve(mdp, "target:3")
    ev_obj = evaluate(mdp, sol.policy, "target:3")
    ev_call = evaluate(mdp, lambda s, c, t: sol.policy.action(s, c, t), "target:3")
    assert ev_obj.value == pytest.approx(sol.value) and ev_call.value == pytest.approx(sol.value)
    np.testing.assert_allclose(ev_call.return_distribution[1], sol.return_distribution[1])
    # A stationary array: evaluate it by hand for horizon 1.
    one = random_mdp(12, horizon=1)
    acts = np.array([0, 1, 2, 0, 1])
    ev = evaluate(one, acts, "mean")
    by_hand = np.mean([one.prob[s, acts[s]] @ one.reward[s, acts[s]] for s in range(5)])
    assert ev.value == pytest.approx(by_hand)
    # A time-dependent array (horizon, S).
    ev_t = evaluate(one, acts[None], "mean")
    assert ev_t.value == pytest.approx(by_hand)


def test_stock_dependent_policy_beats_every_stationary_policy():
    mdp = naive_trap()
    best_stationary = max(evaluate(mdp, np.array([a0, a1]), "cvar:0.5").value
                          for a0 in range(2) for a1 in range(2))
    assert solve(mdp, "cvar:0.5").value >= best_stationary - 1e-12


def test_policy_refuses_stocks_outside_the_solved_range():
    mdp = random_mdp(2)
    sol = solve(mdp, "target:2")
    with pytest.raises(ValueError, match="outside the range"):
        sol.policy.action(0, 1e6, 0)
    with pytest.raises(ValueError, match="outside the range"):
        sol.policy.action(0, sol.initial_stock + 0.5, 0)  # off the lattice
    with pytest.raises(ValueError, match="t must lie"):
        sol.policy.action(0, sol.initial_stock, mdp.horizon)
    assert isinstance(sol.policy, TabularPolicy)


def test_ties_go_to_the_lowest_action():
    mdp = TabularMDP.from_outcomes({0: {0: [(1.0, 0, 1, True)], 1: [(1.0, 0, 1, True)],
                                        2: [(1.0, 0, 1, True)]}}, [1.0], horizon=1)
    for spec in ("mean", "cvar:0.3", "target:0"):
        assert solve(mdp, spec).policy.action(0, solve(mdp, spec).initial_stock, 0) == 0
    assert risk_neutral_policy(mdp).action(0) == 0 and naive_cvar_policy(mdp, 0.3).action(0) == 0


def test_given_initial_stock_and_candidate_stocks():
    mdp = bandit()
    # c0 = -1 = -VaR of the safe arm: the inner problem picks it.
    sol = solve(mdp, CVaR(0.8), initial_stock=-1.0)
    assert sol.initial_stock == -1.0 and sol.value == pytest.approx(1.0)
    # With c0 = 10 the inner problem max E[min(10 + G, 0)] is 0 for both arms: tie -> arm 0.
    assert solve(mdp, CVaR(0.8), initial_stock=10.0).policy.action(0, 10.0) == 0
    # A restricted search: -c + E[min(c + G, 0)] / 0.3 is -15, 0, -5 at c = -10, 0, 5 (safe arm
    # at 0 and 5, either arm at -10). The reported value is the true CVaR of the chosen policy.
    restricted = solve(mdp, CVaR(0.3), stocks=[5, -10, 0])
    assert list(restricted.candidate_stocks) == [-10.0, 0.0, 5.0]
    np.testing.assert_allclose(restricted.candidate_values, [-15.0, 0.0, -5.0])
    assert restricted.initial_stock == 0.0 and restricted.value == pytest.approx(1.0)


def test_user_expected_utility_and_fractional_initial_stock():
    mdp = bandit()
    sol = solve(mdp, ExpectedUtility(lambda x: -(x ** 2), name="sq", initial_stock=-2.5))
    # E[-(G - 2.5)^2]: safe arm -2.25, risky arm -(7.5^2 + 7.5^2) / 2.
    assert sol.value == pytest.approx(-2.25) and sol.policy.action(0, -2.5, 0) == 0
    assert solve(mdp, TargetReturn(2.5)).value == pytest.approx(1.5)


# ---------------------------------------------------------------------------------- bad inputs
def test_probabilities_not_summing_to_one_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        TabularMDP.from_outcomes({0: {0: [(0.5, 0, 1, True), (0.4, 0, 0, True)]}}, [1.0], horizon=1)


def test_negative_probabilities_are_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        TabularMDP.from_outcomes({0: {0: [(1.2, 0, 1, True), (-0.2, 0, 0, True)]}}, [1.0], horizon=1)


def test_objective_invalid_for_gamma_is_rejected():
    mdp = bandit()
    with pytest.raises(ValueError, match="gamma"):
        solve(mdp, "cvar:0.1", gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        evaluate(mdp, np.array([0]), "prob:1", gamma=0.5)  # 1{x >= 0} is homogeneous: but gamma < 1
    with pytest.raises(ValueError, match="gamma=1 only"):
        solve(mdp, "mean", gamma=0.99)
    with pytest.raises(ValueError, match="gamma"):
        solve(mdp, "mean", gamma=0.0)


def test_state_space_too_large_for_stock_range_reports_estimate():
    S = 2_000
    prob = np.ones((S, 2, 2)) / 2
    nxt = np.broadcast_to(np.arange(S)[:, None, None], (S, 2, 2))
    rew = np.broadcast_to(np.array([-500.0, 499.0]), (S, 2, 2))
    mdp = TabularMDP(prob, nxt, rew, np.zeros((S, 2, 2), bool), np.full(S, 1 / S), horizon=2000)
    with pytest.raises(ValueError, match=r"estimated [\d,]+ MiB.*max_memory"):
        solve(mdp, "mean")
    with pytest.raises(ValueError, match=r"estimated [\d,]+ MiB"):
        evaluate(mdp, np.zeros(S, dtype=int), "mean", max_memory=2**20)
    with pytest.raises(ValueError, match=r"estimated [\d,]+ MiB"):
        naive_cvar_policy(mdp, 0.1)


def test_non_lattice_rewards_are_refused():
    mdp = TabularMDP.from_outcomes({0: {0: [(1.0, 0, np.pi, True)]}}, [1.0], horizon=1)
    with pytest.raises(ValueError, match="lattice"):
        solve(mdp, "mean")
    with pytest.raises(ValueError, match="lattice"):
        evaluate(mdp, np.array([0]), "mean")


def test_unbounded_returns_without_horizon_are_refused():
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 1, False), (0.5, 0, 0, True)]}}, [1.0])
    with pytest.raises(ValueError, match="unbounded"):
        solve(mdp, "cvar:0.5")
    assert solve(mdp.with_horizon(8), "cvar:0.5").value == pytest.approx(0.0)


def test_bad_arguments():
    mdp = bandit()
    with pytest.raises(ValueError, match="method"):
        solve(mdp, "mean", method="simplex")
    with pytest.raises(ValueError, match="stocks"):
        solve(mdp, "target:1", stocks=[0, 1])
    with pytest.raises(ValueError, match="multiples"):
        solve(mdp, "cvar:0.1", stocks=[0.5])
    with pytest.raises(ValueError, match="shape"):
        evaluate(mdp, np.array([0, 1]), "mean")
    with pytest.raises(ValueError, match="action"):
        evaluate(mdp, np.array([5]), "mean")
    with pytest.raises(ValueError, match="actions outside"):
        evaluate(mdp, lambda s, c, t: 7, "mean")
    with pytest.raises(TypeError):
        solve("not an mdp", "mean")
    with pytest.raises(ValueError, match="horizon"):
        naive_cvar_policy(mdp.with_horizon(None), 0.1)


def test_non_terminating_policy_is_detected():
    # Action 0 loops forever with reward 0; action 1 terminates.
    mdp = TabularMDP.from_outcomes({0: {0: [(1.0, 0, 0, False)], 1: [(1.0, 0, 1, True)]}}, [1.0])
    with pytest.raises(ValueError, match="does not terminate"):
        evaluate(mdp, np.array([0]), "mean")
    # Looping forever ties with terminating (both have value 1 at the fixed point): the tie must
    # go to the action that terminates.
    for method in ("value_iteration", "policy_iteration"):
        sol = solve(mdp, "prob:1", method=method)
        assert sol.value == pytest.approx(1.0) and sol.policy.action(0, -1.0) == 1
    assert risk_neutral_policy(mdp).action(0) == 1


def test_memory_estimate_bounds_the_measured_peak():
    import tracemalloc

    from rdo_gym.dp.solver import estimate_solve_memory

    mdp = random_mdp(4, S=30, A=4, M=3, horizon=25)
    sol = solve(mdp, "cvar:0.1")
    tracemalloc.start()
    solve(mdp, "cvar:0.1")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = estimate_solve_memory(30, 4, 3, sol.grid.size, 25)
    assert peak <= estimate <= 4 * peak
    with pytest.raises(ValueError, match="estimated"):
        solve(mdp, "cvar:0.1", max_memory=estimate / 2)


def test_evaluate_rejects_a_policy_for_another_mdp():
    sol = solve(random_mdp(1, S=4), "mean")
    with pytest.raises(ValueError, match="states"):
        evaluate(random_mdp(1, S=5), sol.policy, "mean")


def test_monte_carlo_without_horizon_frozenlake():
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1", is_slippery=True))
    sol = solve(mdp, "prob:1")
    G = rollout(mdp, sol.policy, sol.initial_stock, 20_000, np.random.default_rng(1))
    p = sol.value
    assert abs((G >= 1).mean() - p) < 5 * np.sqrt(p * (1 - p) / 20_000)


def test_policy_error_when_no_stock_is_solved_at_a_state():
    # State 1 is never a start state; at t=0 only the start stock is solved there.
    mdp = TabularMDP.from_outcomes({0: {0: [(1.0, 1, 5, False)]}, 1: {0: [(1.0, 1, 5, False)]}},
                                   [1.0, 0.0], horizon=3)
    sol = solve(mdp, "target:15")
    assert sol.value == 0.0 and str(sol.value) == "0.0"
    assert sol.policy.action(1, -10.0, 1) == 0
    with pytest.raises(ValueError, match="outside the range the DP solved exactly"):
        sol.policy.action(1, 0.0, 0)


def test_probability_on_a_decimal_lattice_is_exact():
    """10 fair coin flips paying 0.3: P(G >= 0.9) = P(Bin(10, 1/2) >= 3), although 0.3 * 3 < 0.9 in floats."""
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 0.3, False), (0.5, 0, 0.0, False)]}}, [1.0], horizon=10)
    exact = 1.0 - (1 + 10 + 45) / 2**10
    assert solve(mdp, "prob:0.9").value == pytest.approx(exact, abs=1e-12)
    assert evaluate(mdp, np.zeros(1, dtype=int), "prob:0.9").value == pytest.approx(exact, abs=1e-12)
    assert solve(mdp, "prob:0.91").value == pytest.approx(1.0 - (1 + 10 + 45 + 120) / 2**10, abs=1e-12)
