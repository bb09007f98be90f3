"""rdo_gym.dp against brute force: every deterministic history-dependent policy on tiny MDPs.

The set of return laws achievable by deterministic history-dependent policies from (state, steps
left) is built recursively (a policy picks an action, then independently a continuation for every
outcome), deduplicated, and every shipped objective is evaluated on every law with
``objective.value``, independently of the DP.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdo_gym.dp import TabularMDP, evaluate, solve
from rdo_gym.objectives import CVaR, Expectation, Homeostasis, ProbabilityAtLeast, TargetReturn

R_MAX = 2


def random_mdp(seed: int, n_states: int, horizon: int, n_outcomes: int = 2, n_starts: int = 1,
               p_terminate: float = 0.25, reward_scale: float = 1.0) -> TabularMDP:
    rng = np.random.default_rng(seed)
    S, A, M = n_states, 2, n_outcomes
    prob = rng.dirichlet(np.ones(M), size=(S, A))
    prob = np.round(prob, 3)
    prob[..., -1] = 1.0 - prob[..., :-1].sum(-1)
    prob = np.clip(prob, 0.0, None)
    prob /= prob.sum(-1, keepdims=True)
    nxt = rng.integers(0, S, size=(S, A, M))
    rew = rng.integers(-R_MAX, R_MAX + 1, size=(S, A, M)) * reward_scale
    term = rng.random((S, A, M)) < p_terminate
    init = np.zeros(S)
    init[rng.choice(S, size=n_starts, replace=False)] = 1.0 / n_starts
    return TabularMDP(prob, nxt, rew, term, init, horizon)


def achievable_laws(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """All laws of G under deterministic history-dependent policies: (support, laws (N, L))."""
    H = mdp.horizon
    step = float(np.min(np.abs(mdp.reward[mdp.reward != 0]))) if np.any(mdp.reward != 0) else 1.0
    units = np.round(mdp.reward / step).astype(int)
    span = int(np.abs(units).max()) * H
    L = 2 * span + 1
    support = step * np.arange(-span, span + 1)

    def shift(laws: np.ndarray, r: int) -> np.ndarray:
        return np.roll(laws, r, axis=1)  # span leaves room: no wrap-around on reachable mass

    def dedupe(laws: np.ndarray) -> np.ndarray:
        _, idx = np.unique(np.round(laws, 12), axis=0, return_index=True)
        return laws[np.sort(idx)]

    memo: dict[tuple[int, int], np.ndarray] = {}
    delta0 = np.zeros((1, L))
    delta0[0, span] = 1.0

    def laws_from(s: int, n: int) -> np.ndarray:
        if n == 0:
            return delta0
        if (s, n) in memo:
            return memo[(s, n)]
        options = []
        for a in range(mdp.n_actions):
            combos = np.zeros((1, L))
            for m in range(mdp.n_outcomes):
                p = mdp.prob[s, a, m]
                if p == 0:
                    continue
                cont = delta0 if mdp.terminated[s, a, m] else laws_from(int(mdp.next_state[s, a, m]), n - 1)
                part = p * shift(cont, int(units[s, a, m]))
                combos = (combos[:, None, :] + part[None, :, :]).reshape(-1, L)
                combos = dedupe(combos)
            options.append(combos)
        memo[(s, n)] = dedupe(np.concatenate(options))
        return memo[(s, n)]

    laws = np.zeros((1, L))
    for s in np.flatnonzero(mdp.initial):
        laws = dedupe((laws[:, None, :] + mdp.initial[s] * laws_from(int(s), H)[None]).reshape(-1, L))
    return support, laws


def brute_best(objective, support: np.ndarray, laws: np.ndarray) -> float:
    values = np.asarray(objective.value(np.broadcast_to(support, laws.shape), laws, axis=-1))
    return float(values.max() if objective.higher_is_better else values.min())


OBJECTIVES = [Expectation(), TargetReturn(1), TargetReturn(-2), ProbabilityAtLeast(1), ProbabilityAtLeast(0),
              Homeostasis(1, -1), CVaR(0.1), CVaR(0.3), CVaR(0.5), CVaR(1.0)]

mdp_params = st.tuples(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mdp_params)
def test_optimum_equals_best_history_dependent_policy(params):
    seed, S, H, starts = params
    mdp = random_mdp(seed, S, H, n_starts=min(starts, S))
    support, laws = achievable_laws(mdp)
    for obj in OBJECTIVES:
        sol = solve(mdp, obj)
        best = brute_best(obj, support, laws)
        assert sol.value == pytest.approx(best, abs=1e-9), (str(obj), sol.value, best)
        atoms, probs = sol.return_distribution
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)
        assert obj.value(atoms, probs) == pytest.approx(sol.value, abs=1e-9)
        # The returned policy, evaluated independently, achieves the reported value.
        ev = evaluate(mdp, sol.policy, obj)
        assert ev.value == pytest.approx(sol.value, abs=1e-9)
        np.testing.assert_allclose(ev.return_distribution[1], probs, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(mdp_params, st.sampled_from([0.05, 0.25, 0.6]))
def test_cvar_inner_problem_exact_at_every_initial_stock(params, alpha):
    """For every candidate c0: value_from_utility(c0, max_pi E[min(c0 + G, 0)]) matches brute force."""
    seed, S, H, starts = params
    mdp = random_mdp(seed, S, H, n_starts=min(starts, S))
    support, laws = achievable_laws(mdp)
    obj = CVaR(alpha)
    sol = solve(mdp, obj)
    for c, v in zip(sol.candidate_stocks, sol.candidate_values, strict=True):
        eu = laws @ obj.utility(c + support)
        assert v == pytest.approx(float(obj.value_from_utility(c, eu.max())), abs=1e-9)
    # The outer search's best candidate is the static CVaR optimum, and c0* = -VaR of the result.
    assert sol.value == pytest.approx(sol.candidate_values.max(), abs=1e-12)
    atoms, probs = sol.return_distribution
    assert -sol.initial_stock in set(atoms.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_horizon_four(seed):
    mdp = random_mdp(1000 + seed, 2, 4, n_starts=1, p_terminate=0.3)
    support, laws = achievable_laws(mdp)
    assert len(laws) > 1
    for obj in (Expectation(), TargetReturn(2), ProbabilityAtLeast(2), CVaR(0.2), CVaR(0.7)):
        assert solve(mdp, obj).value == pytest.approx(brute_best(obj, support, laws), abs=1e-9), str(obj)


@settings(max_examples=10, deadline=None)
@given(mdp_params)
def test_policy_iteration_matches_value_iteration(params):
    seed, S, H, starts = params
    mdp = random_mdp(seed, S, H, n_starts=min(starts, S))
    for obj in (TargetReturn(1), CVaR(0.3), ProbabilityAtLeast(1)):
        vi = solve(mdp, obj, method="value_iteration")
        pi = solve(mdp, obj, method="policy_iteration")
        assert pi.value == pytest.approx(vi.value, abs=1e-9)
        assert pi.initial_stock == vi.initial_stock


@pytest.mark.parametrize("scale", [0.5, 0.25, 0.1, 3.0])
def test_lattice_rewards_match_integer_problem(scale):
    """Rewards on a non-unit lattice (scale * integers) give the rescaled integer results."""
    base = random_mdp(7, 3, 3, n_starts=2)
    scaled = TabularMDP(base.prob, base.next_state, base.reward * scale, base.terminated, base.initial, 3)
    support, laws = achievable_laws(scaled)
    for obj, obj_int in ((TargetReturn(2 * scale), TargetReturn(2)),
                         (ProbabilityAtLeast(scale), ProbabilityAtLeast(1)), (CVaR(0.3), CVaR(0.3))):
        sol = solve(scaled, obj)
        assert sol.value == pytest.approx(brute_best(obj, support, laws), abs=1e-9), str(obj)
        assert sol.value == pytest.approx(scale * solve(base, obj_int).value
                                          if not isinstance(obj, ProbabilityAtLeast)
                                          else solve(base, obj_int).value, abs=1e-9)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mdp_params)
def test_return_range_is_the_range_of_every_achievable_law(params):
    seed, S, H, starts = params
    mdp = random_mdp(seed, S, H, n_starts=min(starts, S))
    support, laws = achievable_laws(mdp)
    reached = support[(laws > 1e-15).any(axis=0)]
    assert mdp.return_range() == (pytest.approx(reached.min()), pytest.approx(reached.max()))
    assert mdp.with_horizon(None).return_range() is None
