"""Exact references of the `rdo/` benchmarks: the cached [`reference`][rdo_envs.references.reference] and the
documented table.

[`reference`][rdo_envs.references.reference] is the cached form of
[`rdo_gym.dp.exact_reference`][rdo_gym.dp.comparison.exact_reference] for a benchmark id (and env kwargs): an
[`ExactReference`][rdo_gym.dp.comparison.ExactReference] with the optimal value, the value of the risk-neutral policy
and (for CVaR) of the naive stock-free CVaR policy, all as reported by the objective (`objective.value` of the law of
`G`; check `higher_is_better`), the initial stock `c0` of the optimum, the laws of the three returns and the
normalized score ([`normalized`][rdo_gym.dp.comparison.ExactReference.normalized]). `REFERENCE_OPTIMA` documents those
numbers for every benchmark and reference objective (default env kwargs); the tests assert that the two
agree. Print the table with `python -m rdo_envs` (`--literal` also prints the Python entries
of `REFERENCE_OPTIMA`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rdo_envs.benchmarks import ENV_IDS, check_objective_for_env, env_class
from rdo_gym.dp.comparison import ExactReference
from rdo_gym.objectives import Objective, make_objective

__all__ = ["REFERENCE_OPTIMA", "WEALTH_REFERENCE_OPTIMA", "reference", "reference_table", "markdown_table",
           "python_literal"]


def _ref(env_id: str, objective: str, optimum: float, risk_neutral: float, naive: float | None,
         c0: float) -> tuple[tuple[str, str], ExactReference]:
    return (env_id, objective), ExactReference(make_objective(objective), optimum, risk_neutral, naive, c0)


REFERENCE_OPTIMA: dict[tuple[str, str], ExactReference] = dict([
    # python -m rdo_envs --literal
    _ref('rdo/TargetGrid-v0', 'target:-6', 0.3328199743, 14.8398191614, None, 6.0),
    _ref('rdo/TargetGrid-v0', 'target:-4', 0.1420500521, 12.8398257186, None, 4.0),
    _ref('rdo/TargetGrid-v0', 'target:-2', 0.0517595272, 10.8399147948, None, 2.0),
    _ref('rdo/TargetGrid-v0', 'target:0', 0.0304523355, 8.8416743526, None, 0.0),
    _ref('rdo/TargetGrid-v0', 'target:2', 0.0391574731, 6.8670260538, None, -2.0),
    _ref('rdo/TargetGrid-v0', 'target:4', 0.0993013285, 4.9610196115, None, -4.0),
    _ref('rdo/TargetGrid-v0', 'target:6', 0.2294331063, 3.1800361477, None, -6.0),
    _ref('rdo/TargetGrid-v0', 'target:8', 0.5170472126, 1.770926414, None, -8.0),
    _ref('rdo/TargetGrid-v0', 'target:10', 1.3607259149, 1.542964363, None, -10.0),
    _ref('rdo/CVaRGrid-v0', 'cvar:0.05', -4.521875, -11.4625, -7.0, 3.0),
    _ref('rdo/CVaRGrid-v0', 'cvar:0.1', -3.7609375, -9.325, -5.5, 3.0),
    _ref('rdo/CVaRGrid-v0', 'cvar:0.25', -2.130625, -3.9925, -4.0, -1.0),
    _ref('rdo/CVaRGrid-v0', 'mean', 1.7825, 1.7825, None, 0.0),
    _ref('rdo/Homeostasis-v0', 'homeostasis:6:3', 1.4553776768, 8.6479111119, None, -3.0),
    _ref('rdo/Homeostasis-v0', 'homeostasis:3:3', 0.6694202133, 10.2923903845, None, 0.0),
])
"""`(env_id, objective spec) -> ExactReference` for the default kwargs, numbers only (no laws of `G`, no
solution; generated, see the module doc).
"""

WEALTH_REFERENCE_OPTIMA: dict[tuple[str, str], ExactReference] = dict([
    # reference_table(WEALTH_ENV_IDS), printed by python_literal
    _ref('rdo/WealthGoal-v0', 'prob:30', 0.7763576386, 0.5954625813, None, -30.0),
    _ref('rdo/WealthGoal-v0', 'cvar:0.1', 10.0, -20.6351659657, 10.0, -10.0),
    _ref('rdo/WealthGoal-v0', 'cvar:0.25', 11.2947584077, -9.4423258436, 10.0, -15.0),
    _ref('rdo/WealthGoal-v0', 'cvar:0.5', 16.8729171338, 6.1345780622, 10.248449496, -32.0),
    _ref('rdo/WealthGoal-v0', 'mean', 46.6285018764, 46.6285018764, None, 0.0),
    _ref('rdo/WealthGoalDiscrete-v0', 'prob:30', 0.7637556927, 0.5952783759, None, -30.0),
    _ref('rdo/WealthGoalDiscrete-v0', 'cvar:0.1', 10.0, -20.6351823548, 10.0, -10.0),
    _ref('rdo/WealthGoalDiscrete-v0', 'cvar:0.25', 10.4714588852, -9.442444622, 10.0, -13.0),
    _ref('rdo/WealthGoalDiscrete-v0', 'cvar:0.5', 16.2865305203, 6.1311100423, 10.2365866389, -32.0),
    _ref('rdo/WealthGoalDiscrete-v0', 'mean', 46.5453979945, 46.5453979945, None, 0.0),
])
"""The same for the wealth benchmarks (`WEALTH_ENV_IDS`, default kwargs). `rdo/WealthGoal-v0` is the
continuous-action env: its optimum is the exact optimum over every risky fraction in `[0, 1]` (the DP on
the breakpoint model, [`WealthEnv.exact_model`][rdo_envs.wealth.WealthEnv.exact_model]);
`rdo/WealthGoalDiscrete-v0` is the 5-level twin's own optimum.
"""


@lru_cache(maxsize=128)
def _compute(env_id: str, objective: Objective, kwargs: tuple[tuple[str, Any], ...]) -> ExactReference:
    from rdo_gym.dp import exact_reference

    env = env_class(env_id)(**dict(kwargs))
    check_objective_for_env(env, objective)
    return exact_reference(env.model, objective)


def reference(env_id: str, objective: Objective | str, **kwargs: Any) -> ExactReference:
    """The exact reference of a benchmark and objective, computed by [`rdo_gym.dp`][rdo_gym.dp] and cached.

    Args:
        env_id: A benchmark id (`"rdo/CVaRGrid-v0"`, with or without `"rdo_envs:"`).
        objective: An [`Objective`][rdo_gym.objectives.Objective] or a spec such as `"cvar:0.1"`.
        **kwargs: Dynamics parameters of the env (default: the registered defaults).

    Returns:
        The [`ExactReference`][rdo_gym.dp.comparison.ExactReference] (the same object for the same arguments).
    """
    env_class(env_id)  # validates the id
    name = env_id.split(":", 1)[-1]
    return _compute(name, make_objective(objective), tuple(sorted(kwargs.items())))


def reference_table(env_ids: tuple[str, ...] = ENV_IDS) -> dict[tuple[str, str], ExactReference]:
    """Freshly computed references of every benchmark's `reference_objectives` (default kwargs),
    keyed as `REFERENCE_OPTIMA` (`reference_table(WEALTH_ENV_IDS)`: as `WEALTH_REFERENCE_OPTIMA`)."""
    return {(env_id, spec): reference(env_id, spec) for env_id in env_ids
            for spec in env_class(env_id).reference_objectives}


def markdown_table(rows: dict[tuple[str, str], ExactReference]) -> str:
    """The references as a Markdown table (the one in `docs/benchmarks.md`)."""
    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.4f}"

    lines = ["| env | objective | optimum | risk-neutral | naive CVaR | c0 of optimum | better |",
             "|---|---|---|---|---|---|---|"]
    for (env_id, spec), r in rows.items():
        better = "higher" if r.higher_is_better else "lower"
        lines.append(f"| `{env_id}` | `{spec}` | {fmt(r.optimum)} | {fmt(r.risk_neutral)} | "
                     f"{fmt(r.naive)} | {r.initial_stock + 0.0:g} | {better} |")
    return "\n".join(lines)


def python_literal(rows: dict[tuple[str, str], ExactReference]) -> str:
    """The references as the Python entries of `REFERENCE_OPTIMA`."""
    out = []
    for (env_id, spec), r in rows.items():
        naive = "None" if r.naive is None else repr(round(r.naive, 10))
        out.append(f"    _ref({env_id!r}, {spec!r}, {round(r.optimum, 10)!r}, "
                   f"{round(r.risk_neutral, 10)!r}, {naive}, {r.initial_stock!r}),")
    return "\n".join(out)
