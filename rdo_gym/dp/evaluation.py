"""Exact evaluation of a given policy: its return distribution and objective value.

Conventions of [`rdo_gym.dp.kernel`][rdo_gym.dp.kernel]: gamma = 1, lattice rewards, the stock is `C_0 = c0`,
`C_{t+1} = C_t + R_{t+1}` (what a stock-dependent policy is asked with). The law of
`(state, stock)` is pushed forward exactly under the policy ([`propagate`][rdo_gym.dp.kernel.propagate]).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rdo_gym.dp.kernel import (
    DEFAULT_MAX_MEMORY,
    check_initial_stock,
    check_max_memory,
    check_memory,
    prepare,
    propagate,
    return_bounds,
    return_law,
)
from rdo_gym.dp.lattice import StockGrid, base_units
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.policy import TabularPolicy
from rdo_gym.objectives import Objective

__all__ = ["Evaluation", "evaluate"]

PolicyLike = TabularPolicy | np.ndarray | Callable[[int, float, int], int]


@dataclass
class Evaluation:
    """Result of [`evaluate`][rdo_gym.dp.evaluation.evaluate]: `value` (`objective.value` of the law of `G`), the exact
    `return_distribution = (atoms, probs)` of `G` (without the stock), `expected_utility = E[f(c0 + G)]`, the
    `initial_stock` used and the `truncated_mass` left unterminated (below 1e-12, only without a horizon)."""

    value: float
    return_distribution: tuple[np.ndarray, np.ndarray]
    expected_utility: float
    initial_stock: float
    truncated_mass: float = 0.0


def _action_fn(policy: Any, mdp: TabularMDP, grid: StockGrid) -> Callable:
    S, A = mdp.n_states, mdp.n_actions
    stocks = grid.values()
    if isinstance(policy, TabularPolicy):
        if policy.n_states != S:
            raise ValueError(f"{policy.name} has {policy.n_states} states, the MDP has {S}")
        if policy.time_dependent and (mdp.horizon is None or policy.horizon < mdp.horizon):
            raise ValueError(f"{policy.name} is time-dependent with horizon {policy.horizon}, so it cannot act "
                             f"for the MDP's horizon {mdp.horizon}; evaluate it on an MDP with a horizon "
                             f"of at most {policy.horizon}")
        return lambda t, s, k: policy.actions(s, stocks[k], t)
    if callable(policy):
        def call(t, s, k):
            pairs = zip(s.tolist(), k.tolist(), strict=True)
            return np.array([_action_index(policy, si, float(stocks[ki]), int(t)) for si, ki in pairs],
                            dtype=np.int64)
        return call
    if policy is None or isinstance(policy, (str, bytes, dict)):
        raise TypeError(f"policy must be a TabularPolicy, an integer array of actions ({S},) or "
                        f"(horizon, {S}), or a callable (state, stock, t) -> action; got {policy!r}")
    table = np.asarray(policy)
    if table.dtype.kind not in "iu":
        raise ValueError(f"a policy array must hold integer action indices in [0, {A}), got an array of "
                         f"dtype {table.dtype}")
    if np.any((table < 0) | (table >= A)):
        bad = table[(table < 0) | (table >= A)]
        raise ValueError(f"a policy array must hold action indices in [0, {A}), got {int(bad[0])}")
    if table.shape == (S,):
        return lambda t, s, k: table[s]
    if mdp.horizon is not None and table.shape == (mdp.horizon, S):
        return lambda t, s, k: table[t, s]
    raise ValueError(f"a policy array must have shape ({S},) (stationary) or (horizon, {S}), "
                     f"got {table.shape}")


def _action_index(policy: Callable, state: int, stock: float, t: int) -> int:
    """`policy(state, stock, t)` as an action index; an integer (or an integral float) only."""
    action = policy(state, stock, t)
    value = action
    if isinstance(action, np.ndarray) and action.size == 1:
        value = action.reshape(()).item()
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and float(value).is_integer():
        return int(value)
    raise ValueError(f"the policy callable must return an action index (an int), got {action!r} from "
                     f"policy(state={state}, stock={stock!r}, t={t})")


def evaluate(mdp: TabularMDP, policy: PolicyLike, objective: Objective | str, *,
             initial_stock: float | None = None, gamma: float = 1.0,
             max_memory: float = DEFAULT_MAX_MEMORY) -> Evaluation:
    """Exact law of the return `G` of a deterministic `policy` and its `objective` value.

    Requires gamma = 1 and lattice rewards (see [`rdo_gym.dp.solve`][rdo_gym.dp.solver.solve]).

    Args:
        mdp: the model.
        policy: a [`TabularPolicy`][rdo_gym.dp.policy.TabularPolicy] (e.g. `solve(...).policy`), an integer array `(S,)`
            (stationary) or `(horizon, S)`, or a callable `(state, stock, t) -> action`
            returning an action index (`stock` is `c0 + rewards so far`, `t` the steps taken).
        objective: an [`Objective`][rdo_gym.objectives.Objective] or a spec string.
        initial_stock: `c0`; default the objective's, else the policy's own `initial_stock`
            (e.g. CVaR's `c0*`), else 0.
        gamma: the discount; only 1 is exact.
        max_memory: the memory budget in bytes.

    Raises:
        ValueError: for gamma < 1, non-lattice rewards, unbounded returns or a policy that does not
            terminate without a horizon, a bad policy, or an estimated memory above `max_memory`.
    """
    obj, lattice = prepare(mdp, objective, gamma)
    if initial_stock is not None:
        c0 = check_initial_stock(initial_stock)
    elif not obj.searches_initial_stock:
        c0 = float(obj.initial_stock)
    elif getattr(policy, "initial_stock", None) is not None:
        c0 = check_initial_stock(policy.initial_stock)
    else:
        c0 = 0.0
    max_memory = check_max_memory(max_memory)
    S, _, M = mdp.prob.shape

    def check_budget(spread: int, final: bool) -> None:
        K = spread + 1
        size = f"{S} states x {'' if final else '>= '}{K} stocks"
        check_memory(8.0 * S * K * (3 + 6 * M), f"evaluate ({size})", max_memory, final=final)

    lo, hi = return_bounds(mdp, lattice, every_step=False, on_spread=check_budget)
    start = mdp.initial > 0
    g_lo, g_hi = int(lo[-1, start].min()), int(hi[-1, start].max())
    K = g_hi - g_lo + 1
    grid = StockGrid(base_units=base_units(c0, lattice.step), step=lattice.step, offset=g_lo, size=K)
    final, left = propagate(mdp, lattice.units, K, -g_lo, _action_fn(policy, mdp, grid))
    atoms, probs, value, eu = return_law(final, -g_lo, grid.values(), lattice.step, obj)
    return Evaluation(value=value, return_distribution=(atoms, probs), expected_utility=eu,
                      initial_stock=c0, truncated_mass=left)
