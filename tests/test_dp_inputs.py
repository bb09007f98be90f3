"""rdo_gym.dp on hostile inputs: each bad input is refused early with a message naming the argument,
the value and what is accepted; memory budgets are enforced before anything large is allocated."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rdo_gym.dp import TabularMDP, evaluate, naive_cvar_policy, risk_neutral_policy, solve


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
