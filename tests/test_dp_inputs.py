"""rdo_gym.dp on hostile inputs: each bad input is refused early with a message naming the argument,
the value and what is accepted; memory budgets are enforced before anything large is allocated."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rdo_gym.dp import StockGrid, TabularMDP, TabularPolicy, evaluate, naive_cvar_policy, risk_neutral_policy, solve
from rdo_gym.objectives import ExpectedUtility, make_objective


def taxi_sized(horizon: int, seed: int = 0) -> TabularMDP:
    """500 states, 6 actions, deterministic moves, rewards -1 / -10 / +20 (Taxi's sizes and rewards)."""
    rng = np.random.default_rng(seed)
    S, A = 500, 6
    nxt = rng.integers(0, S, size=(S, A, 1))
    rew = rng.choice([-1.0, -10.0, 20.0], size=(S, A, 1), p=[0.8, 0.15, 0.05])
    init = np.full(S, 1.0 / S)
    return TabularMDP(np.ones((S, A, 1)), nxt, rew, np.zeros((S, A, 1), dtype=bool), init, horizon)


# ------------------------------------------------------------------------------ memory budget
@pytest.mark.parametrize("call", [
    lambda mdp, mem: solve(mdp, "mean", max_memory=mem),
    lambda mdp, mem: solve(mdp, "cvar:0.1", max_memory=mem),
    lambda mdp, mem: evaluate(mdp, np.zeros(500, dtype=int), "mean", max_memory=mem),
    lambda mdp, mem: naive_cvar_policy(mdp, 0.1, max_memory=mem),
], ids=["solve", "solve-cvar", "evaluate", "naive"])
def test_memory_budget_is_checked_before_allocating(call):
    """A Taxi-sized model with H = 100000 and a 50 MiB budget: refused at once (the bounds of every
    step alone would take 800 MiB and 20 s), not after the allocation, and not by running out of memory."""
    mdp = taxi_sized(100_000)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"needs (at least )?an estimated [\d,]+ MiB, more than max_memory=50 MiB"):
        call(mdp, 50 * 2**20)
    assert time.perf_counter() - t0 < 2.0


def test_memory_budget_of_a_longer_horizon_and_the_risk_neutral_policy():
    # 10^9 steps: the policy tables alone would be terabytes.
    mdp = taxi_sized(10**9)
    t0 = time.perf_counter()
    for call in (lambda: solve(mdp, "mean"), lambda: risk_neutral_policy(mdp),
                 lambda: evaluate(mdp, np.zeros(500, dtype=int), "mean"),
                 lambda: naive_cvar_policy(mdp, 0.1)):
        with pytest.raises(ValueError, match="max_memory"):
            call()
    assert time.perf_counter() - t0 < 2.0


# ------------------------------------------------------------------------------ TabularMDP
def two_states(**changes) -> dict:
    """Arguments of a valid 2-state, 1-action, 1-outcome TabularMDP, with ``changes``."""
    args = dict(prob=np.ones((2, 1, 1)), next_state=[[[1]], [[0]]], reward=1.0, terminated=False,
                initial=[1.0, 0.0], horizon=3)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, error, message", [
    # The horizon: an int or None (3.0 used to be accepted and then fail inside solve).
    (dict(horizon=3.0), TypeError, r"horizon must be a positive int .* got 3\.0 \(float\)"),
    (dict(horizon=True), TypeError, r"horizon must be a positive int .* got True"),
    (dict(horizon="3"), TypeError, r"horizon must be a positive int .* got '3'"),
    (dict(horizon=0), ValueError, r"horizon must be a positive int .* got 0"),
    # The initial distribution (a NaN used to reach the DP as "a stock left the computed grid").
    (dict(initial=[np.nan, 1.0]), ValueError, r"initial must be finite and non-negative.*state 0 has nan"),
    (dict(initial=[-0.5, 1.5]), ValueError, r"initial must be finite and non-negative.*state 0 has -0\.5"),
    (dict(initial=[0.5, 0.6]), ValueError, r"initial must sum to 1.*1\.1"),
    (dict(initial=[1.0]), ValueError, r"initial must be a probability vector over the 2 states.*\(1,\)"),
    (dict(initial=["a", "b"]), TypeError, r"initial must be an array of real numbers.*dtype <U1"),
    # next_state: integer indices in range (1.7 used to be truncated to 1).
    (dict(next_state=[[[1.7]], [[0.0]]]), ValueError, r"next_state must hold integer state indices; "
                                                      r"next_state\[0, 0, 0\] is 1\.7"),
    (dict(next_state=[[[np.nan]], [[0.0]]]), ValueError, r"next_state must hold integer state indices"),
    (dict(next_state=[[[2]], [[0]]]), ValueError, r"next_state must lie in \[0, 2\).*state 0, action 0, "
                                                  r"outcome 0 has next_state 2"),
    (dict(next_state=[[[True]], [[False]]]), TypeError, r"next_state must be an array of integer state indices"),
    (dict(next_state=[1, 0, 1]), ValueError, r"next_state has shape \(3,\), which does not broadcast to "
                                             r"prob's shape \(2, 1, 1\)"),
    # terminated: booleans or 0/1 (0.5 and the string "False" used to count as True).
    (dict(terminated=0.5), ValueError, r"terminated must hold booleans \(or 0/1\).*0\.5"),
    (dict(terminated="False"), TypeError, r"terminated must be an array of booleans"),
    # rewards: finite, naming the state and action.
    (dict(reward=[[[1.0]], [[np.inf]]]), ValueError, r"rewards must be finite.*state 1, action 0, outcome 0 "
                                                     r"has reward inf"),
    (dict(reward="a"), TypeError, r"reward must be an array of real numbers"),
    # prob: shape and values.
    (dict(prob=np.ones((2, 1))), ValueError, r"prob must have shape \(states, actions, outcomes\)"),
    (dict(prob=np.ones((2, 0, 1)), next_state=0), ValueError, r"each at least 1, got \(2, 0, 1\)"),
    (dict(prob=np.full((2, 1, 1), np.nan)), ValueError, r"prob must be finite and non-negative; state 0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_tabular_mdp_refuses_bad_arguments(changes, error, message):
    with pytest.raises(error, match=message):
        TabularMDP(**two_states(**changes))


def test_tabular_mdp_accepts_equivalent_spellings():
    mdp = TabularMDP(**two_states(next_state=[[[1.0]], [[0.0]]], terminated=[[[0]], [[1]]], horizon=np.int64(3)))
    assert mdp.next_state.dtype == np.int64 and mdp.next_state.ravel().tolist() == [1, 0]
    assert mdp.terminated.ravel().tolist() == [False, True]
    assert mdp.horizon == 3 and type(mdp.horizon) is int
    assert mdp.with_horizon(None).horizon is None


@pytest.mark.parametrize("outcomes, message", [
    ({0: {0: [(1.0, 0.5, 1.0, False)]}}, r"outcomes\[0\]\[0\]: next_state must be an integer state index, got 0\.5"),
    ({0: {0: [(1.0, 0, 1.0, "no")]}}, r"outcomes\[0\]\[0\]: terminated must be a bool \(or 0/1\), got 'no'"),
    ({0: {0: [(1.0, 0)]}}, r"outcomes\[0\]\[0\] must be a list of \(prob, next_state, reward, terminated\) tuples"),
    ({}, r"outcomes must describe at least one state"),
    ({1: {0: [(1.0, 0, 1.0, True)]}}, r"outcomes must have the entries 0 \.\. 0 .* 0 is missing"),
])
def test_from_outcomes_refuses_bad_tables(outcomes, message):
    with pytest.raises(ValueError, match=message):
        TabularMDP.from_outcomes(outcomes, [1.0], horizon=2)


def test_nan_initial_from_a_zero_start_distribution_is_refused():
    class Env:
        P = {0: {0: [(1.0, 0, 1.0, True)]}}
        initial_state_distrib = np.zeros(1)

    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match="initial must be finite"):
        TabularMDP.from_gymnasium(Env(), horizon=2)


# ------------------------------------------------------------------------------ the reward lattice
def constant_reward(reward: float, horizon: int = 3) -> TabularMDP:
    return TabularMDP.from_outcomes({0: {0: [(1.0, 0, reward, False)]}}, [1.0], horizon=horizon)


def test_a_near_lattice_reward_is_refused_not_rounded():
    """Three rewards of 1 - 1e-9 sum to less than 3: P(G >= 3) is 0; rounding the reward to 1 reported 1."""
    mdp = constant_reward(1 - 1e-9)
    assert make_objective("prob:3").value(np.array([3 * (1 - 1e-9)])) == 0.0
    for call in (lambda: solve(mdp, "prob:3"), lambda: evaluate(mdp, np.zeros(1, dtype=int), "prob:3")):
        with pytest.raises(ValueError, match=r"reward 0\.999999999 is not on a lattice: it is 1e-09 from 1, "
                                             r"farther than float rounding.*Round the rewards"):
            call()
    # Rounded by the user, as the message says, it is exact.
    assert solve(constant_reward(round(1 - 1e-9, 6)), "prob:3").value == 1.0


def test_float_rounding_of_decimal_rewards_is_snapped():
    """0.1 + 0.2 (= 0.30000000000000004) is read as 0.3: three of them reach 0.9, next to an exact 0.3."""
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 0.1 + 0.2, False), (0.5, 0, 0.3, False)]}}, [1.0], horizon=3)
    sol = solve(mdp, "prob:0.9")
    assert sol.value == 1.0 and sol.return_distribution[0].tolist() == [pytest.approx(0.9)]
    # A rounding residue next to rewards of order 1 is read as 0.
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 0.1 + 0.2 - 0.3, False), (0.5, 0, 1.0, False)]}}, [1.0],
                                   horizon=2)
    assert sorted(evaluate(mdp, np.zeros(1, dtype=int), "mean").return_distribution[0].tolist()) == [0, 1, 2]


def test_a_threshold_just_off_the_lattice_is_not_rounded_onto_it():
    """prob:3.000000001 with integer rewards summing to 3 is 0 (it used to be an internal error)."""
    mdp = constant_reward(1.0)
    assert solve(mdp, "prob:3.000000001").value == 0.0
    assert evaluate(mdp, np.zeros(1, dtype=int), "prob:3.000000001").value == 0.0
    assert solve(mdp, "prob:3").value == 1.0
    with pytest.raises(ValueError, match=r"stocks must be multiples of the reward lattice step 1, got 1\.000000001"):
        solve(mdp, "cvar:0.5", stocks=[0.0, 1.000000001])


@pytest.mark.parametrize("args, error, message", [
    (dict(base_units=0.0, step=0.0, offset=0, size=3), ValueError, r"step must be a finite positive number.*0\.0"),
    (dict(base_units=0.0, step=-1.0, offset=0, size=3), ValueError, r"step must be a finite positive number"),
    (dict(base_units=np.nan, step=1.0, offset=0, size=3), ValueError, r"base_units must be a finite number"),
    (dict(base_units=0.0, step=1.0, offset=0, size=0), ValueError, r"size must be at least 1.*got 0"),
    (dict(base_units=0.0, step=1.0, offset=0.5, size=3), TypeError, r"offset must be an int, got 0\.5"),
])
def test_stock_grid_refuses_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        StockGrid(**args)


def test_stock_grid_index_of_non_finite_stocks():
    grid = StockGrid(base_units=0.0, step=1.0, offset=-2, size=5)
    k, ok = grid.index(np.array([np.nan, np.inf, 1e300, 2.0]))
    assert ok.tolist() == [False, False, False, True] and k[-1] == 4


# ------------------------------------------------------------------------------ solve / evaluate arguments
@pytest.mark.parametrize("call, error, message", [
    (lambda m: evaluate(m, np.zeros(1, dtype=int), "mean", initial_stock="abc"), TypeError,
     r"initial_stock must be a finite number \(the stock c0 to start from\) or None, got 'abc' \(str\)"),
    (lambda m: solve(m, "mean", initial_stock=True), TypeError, r"initial_stock must be a finite number.*True"),
    (lambda m: solve(m, "cvar:0.5", initial_stock=np.inf), ValueError, r"initial_stock must be finite.*inf"),
    (lambda m: evaluate(m, lambda s, c, t: None, "mean"), ValueError,
     r"the policy callable must return an action index \(an int\), got None from policy\(state=0, stock=0\.0, t=0\)"),
    (lambda m: evaluate(m, lambda s, c, t: 0.7, "mean"), ValueError, r"must return an action index.*got 0\.7"),
    (lambda m: evaluate(m, lambda s, c, t: "left", "mean"), ValueError, r"must return an action index.*'left'"),
    (lambda m: evaluate(m, None, "mean"), TypeError,
     r"policy must be a TabularPolicy, an integer array of actions \(1,\) or \(horizon, 1\), or a callable"),
    (lambda m: evaluate(m, np.array([0.0]), "mean"), ValueError, r"integer action indices in \[0, 1\).*float64"),
    (lambda m: solve(m, "mean", max_memory=-1), ValueError,
     r"max_memory must be a positive number of bytes \(e\.g\. 2 \* 2\*\*30.*got -1"),
    (lambda m: solve(m, "mean", max_memory=float("nan")), ValueError, r"max_memory must be a positive number.*nan"),
    (lambda m: evaluate(m, np.zeros(1, dtype=int), "mean", max_memory="1GB"), TypeError,
     r"max_memory must be a number of bytes.*'1GB'"),
    (lambda m: naive_cvar_policy(m, 0.5, max_memory=0), ValueError, r"max_memory must be a positive number.*got 0"),
    (lambda m: risk_neutral_policy(m, max_memory=-5), ValueError, r"max_memory must be a positive number.*-5"),
    (lambda m: solve(m, "cvar:0.5", stocks=["a"]), ValueError, r"initial stocks\) must be numbers.*'a'"),
    (lambda m: solve(m, "cvar:0.5", stocks=[]), ValueError, r"initial stocks\) must be finite and non-empty"),
    (lambda m: risk_neutral_policy("not an mdp"), TypeError, r"mdp must be a rdo_gym\.dp\.TabularMDP.*got str"),
])
def test_solve_and_evaluate_name_the_bad_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(constant_reward(1.0))


def test_policy_callables_may_return_numpy_integers_and_integral_floats():
    mdp = constant_reward(1.0)
    for policy in (lambda s, c, t: np.int64(0), lambda s, c, t: 0.0, lambda s, c, t: np.array([0])):
        assert evaluate(mdp, policy, "mean").value == 3.0


# ------------------------------------------------------------------------------ TabularPolicy
def test_tabular_policy_refuses_bad_tables_and_queries():
    with pytest.raises(TypeError, match=r"policy table must hold integer action indices, got .* dtype float64"):
        TabularPolicy(np.array([0.6]), time_dependent=False)
    with pytest.raises(ValueError, match=r"policy table must hold action indices >= 0, got -1"):
        TabularPolicy(np.array([-1]), time_dependent=False)
    grid = StockGrid(base_units=0.0, step=1.0, offset=0, size=3)
    with pytest.raises(ValueError, match=r"a stock-dependent policy needs valid_low of shape \(1, 1\).*got None"):
        TabularPolicy(np.zeros((1, 3), dtype=int), time_dependent=False, grid=grid)
    sol = solve(constant_reward(1.0), "prob:1")
    with pytest.raises(TypeError, match=r"t must be an int \(the number of steps taken\), got 1\.5"):
        sol.policy.action(0, -1.0, 1.5)
    with pytest.raises(ValueError, match=r"the stock must be a finite number \(c0 \+ rewards so far\), got nan"):
        sol.policy.action(0, float("nan"), 0)
    with pytest.raises(ValueError, match=r"states must be integer state indices, got \[0\.7\]"):
        risk_neutral_policy(constant_reward(1.0)).action(0.7)
    assert sol.policy.action(np.int64(0), -1.0, np.int64(0)) == 0


# ------------------------------------------------------------------------------ no horizon
def test_non_termination_without_a_horizon_says_to_pass_one():
    """FrozenLake 8x8 without a horizon: the optimal policy leaves probability in the episode after
    the 20000-step cut-off; the message says what is needed and how to give the model a horizon."""
    import gymnasium as gym

    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1", map_name="8x8"))
    with pytest.raises(ValueError, match=r"the optimal prob:1 policy found without a horizon does not terminate: "
                                         r"probability 0\.0771 is still in the episode after 20000 steps\..*"
                                         r"TabularMDP\.from_gymnasium\(env, horizon=H\).*mdp\.with_horizon\(H\)"):
        solve(mdp, "prob:1")
    assert solve(mdp.with_horizon(200), "prob:1").value > 0.5


def test_unbounded_returns_without_a_horizon_say_how_to_give_one():
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 1, False), (0.5, 0, 0, True)]}}, [1.0])
    for call in (lambda: solve(mdp, "mean"), lambda: evaluate(mdp, np.zeros(1, dtype=int), "mean")):
        with pytest.raises(ValueError, match=r"unbounded.*mdp\.with_horizon\(H\)"):
            call()


# ------------------------------------------------------------------------------ more hostile inputs
@pytest.mark.parametrize("call, message", [
    # A utility that is not finite on the stocks reached (log of a negative stock) used to give a NaN value.
    (lambda m: evaluate(m, np.zeros(1, dtype=int), ExpectedUtility(np.log)),
     r"objective utility:custom: utility must return finite values element-wise, got nan at stock -3\.0"),
    (lambda m: solve(m, ExpectedUtility(np.log)), r"utility must return finite values element-wise"),
    # A utility that is not element-wise (a constant) used to fail inside numpy's matmul.
    (lambda m: evaluate(m, np.zeros(1, dtype=int), ExpectedUtility(lambda x: 1.0)),
     r"utility must work element-wise on numpy arrays \(one number per stock\), got shape \(\)"),
    # An initial stock too large for c0 + G to keep the return's steps used to flatten the utility.
    (lambda m: solve(m, "target:1e17"),
     r"the initial stock -1e\+17 is 1e\+17 lattice steps of 1 from 0 \(at most 2\*\*50\)"),
    (lambda m: evaluate(m, np.zeros(1, dtype=int), "mean", initial_stock=1e300), r"at most 2\*\*50"),
])
def test_objectives_and_stocks_the_dp_cannot_represent(call, message):
    with np.errstate(invalid="ignore", divide="ignore"), pytest.raises(ValueError, match=message):
        call(constant_reward(-1.0))


def test_rewards_spanning_more_lattice_steps_than_float64_keeps_exact_are_refused():
    # 1e20 and 1: 1e20 lattice steps; the units used to overflow int64.
    mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 1e20, False), (0.5, 0, 1.0, False)]}}, [1.0], horizon=3)
    with pytest.raises(ValueError, match=r"rewards span too many lattice steps.*1e\+20 steps of 1 \(at most 2\*\*50\)"):
        solve(mdp, "mean", max_memory=float("inf"))


def test_a_time_dependent_policy_shorter_than_the_horizon_is_refused_up_front():
    policy = risk_neutral_policy(constant_reward(1.0, horizon=3))
    with pytest.raises(ValueError, match=r"risk-neutral is time-dependent with horizon 3, so it cannot act for the "
                                         r"MDP's horizon 5"):
        evaluate(constant_reward(1.0, horizon=5), policy, "mean")
    with pytest.raises(ValueError, match=r"horizon 3, so it cannot act for the MDP's horizon None"):
        evaluate(TabularMDP.from_outcomes({0: {0: [(1.0, 0, 1.0, True)]}}, [1.0]), policy, "mean")
    assert evaluate(constant_reward(1.0, horizon=2), policy, "mean").value == 2.0
