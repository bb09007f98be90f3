"""Exact reference optima of the ``rdo/`` benchmarks, computed by :mod:`rdo_gym.dp`.

:data:`REFERENCE_OPTIMA` documents, for every benchmark and documented objective (default env
kwargs), the optimal value, the value of the risk-neutral policy and (for CVaR) of the naive
stock-free CVaR policy, all as reported by the objective (``objective.value`` of the law of
``G``; check ``higher_is_better``), and the initial stock ``c0`` of the optimum.
:func:`reference` recomputes them (or any other objective / env kwargs) on demand; the tests assert
that the two agree. Print the table with ``python -m rdo_envs`` (``--literal`` also prints the
Python entries of :data:`REFERENCE_OPTIMA`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rdo_envs.benchmarks import ENV_IDS, check_objective_for_env, env_class
from rdo_gym.objectives import Objective, make_objective

__all__ = ["Reference", "REFERENCE_OPTIMA", "reference", "reference_table", "markdown_table",
           "python_literal"]


@dataclass(frozen=True)
class Reference:
    """Reference numbers of one benchmark and objective (values as the objective reports them).

    ``optimum``: the optimal value (``rdo_gym.dp.solve``); ``risk_neutral``: the value of the
    policy maximizing ``E[G]``; ``naive_cvar``: the value of the naive stock-free CVaR policy (CVaR
    objectives only, else ``None``); ``initial_stock``: the optimum's ``c0`` (for CVaR the searched
    ``c0* = -VaR_alpha``); ``higher_is_better``: the direction of the values.
    """

    env_id: str
    objective: str
    optimum: float
    risk_neutral: float
    naive_cvar: float | None
    initial_stock: float
    higher_is_better: bool


def _ref(env_id: str, objective: str, optimum: float, risk_neutral: float, naive: float | None,
         c0: float) -> tuple[tuple[str, str], Reference]:
    hib = make_objective(objective).higher_is_better
    return (env_id, objective), Reference(env_id, objective, optimum, risk_neutral, naive, c0, hib)


#: ``(env_id, objective spec) -> Reference`` for the default kwargs (generated, see module doc).
REFERENCE_OPTIMA: dict[tuple[str, str], Reference] = dict([
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


@lru_cache(maxsize=128)
def _compute(env_id: str, objective: Objective, kwargs: tuple[tuple[str, Any], ...]) -> Reference:
    from rdo_gym.dp import compare_with_baselines

    env = env_class(env_id)(**dict(kwargs))
    check_objective_for_env(env, objective)
    cmp = compare_with_baselines(env.model, objective)
    naive = None if cmp.naive is None else float(cmp.naive.value)
    return Reference(env_id, str(objective), float(cmp.optimum.value), float(cmp.risk_neutral.value), naive,
                     float(cmp.optimum.initial_stock) + 0.0, objective.higher_is_better)


def reference(env_id: str, objective: Objective | str, **kwargs: Any) -> Reference:
    """Exact reference numbers for ``env_id`` (e.g. ``"rdo/CVaRGrid-v0"``) and ``objective``
    (an :class:`~rdo_gym.Objective` or a spec such as ``"cvar:0.1"``), computed by
    :mod:`rdo_gym.dp` for the env built with ``kwargs`` (default: the registered defaults) and
    cached."""
    env_class(env_id)  # validates the id
    name = env_id.split(":", 1)[-1]
    return _compute(name, make_objective(objective), tuple(sorted(kwargs.items())))


def reference_table(env_ids: tuple[str, ...] = ENV_IDS) -> list[Reference]:
    """Freshly computed references of every benchmark's ``default_objectives`` (default kwargs)."""
    return [reference(env_id, obj) for env_id in env_ids for obj in env_class(env_id).reference_objectives]


def markdown_table(rows: list[Reference]) -> str:
    """The references as a Markdown table (the one in ``docs/benchmarks.md``)."""
    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.4f}"

    lines = ["| env | objective | optimum | risk-neutral | naive CVaR | c0 of optimum | better |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        better = "higher" if r.higher_is_better else "lower"
        lines.append(f"| `{r.env_id}` | `{r.objective}` | {fmt(r.optimum)} | {fmt(r.risk_neutral)} | "
                     f"{fmt(r.naive_cvar)} | {r.initial_stock + 0.0:g} | {better} |")
    return "\n".join(lines)


def python_literal(rows: list[Reference]) -> str:
    """The references as the Python entries of :data:`REFERENCE_OPTIMA`."""
    out = []
    for r in rows:
        naive = "None" if r.naive_cvar is None else repr(round(r.naive_cvar, 10))
        out.append(f"    _ref({r.env_id!r}, {r.objective!r}, {round(r.optimum, 10)!r}, "
                   f"{round(r.risk_neutral, 10)!r}, {naive}, {r.initial_stock!r}),")
    return "\n".join(out)
