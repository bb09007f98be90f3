"""Objectives on the law of ``c0 + G``: defined once, used by the wrappers, the DP and the agent.

Conventions (DESIGN.md section 2):

* ``G`` is the ordinary (discounted) return, rewards are "higher is better".
* ``c0`` is the initial stock. Every objective is a stock-augmented expected utility: the quantity
  optimized is ``E[f(c0 + G)]`` for a utility ``f`` (``utility``), possibly followed by an outer
  search over ``c0`` (only :class:`CVaR`).
* ``value`` reports the statistic a user cares about (e.g. ``CVaR_alpha(G)``, ``E|G - target|``),
  computed from return samples or from weighted atoms. ``higher_is_better`` says its direction.
* ``utility`` works element-wise on numpy arrays, python floats and torch tensors alike (torch is
  never imported here).

Every objective has a compact string form (``str(obj)``) that :func:`make_objective` parses back:
``mean``, ``target:5``, ``prob:3``, ``cvar:0.1``, ``homeostasis:0`` (or ``homeostasis:SET:INITIAL``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Objective",
    "Expectation",
    "TargetReturn",
    "ProbabilityAtLeast",
    "CVaR",
    "Homeostasis",
    "ExpectedUtility",
    "make_objective",
    "check_gamma",
]


def check_gamma(gamma: float) -> float:
    """Return ``gamma`` as a float, or raise ``ValueError`` unless it lies in (0, 1]."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}") from None
    if not (0.0 < g <= 1.0):
        raise ValueError(f"gamma must lie in (0, 1], got gamma={gamma!r}")
    return g


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _as_float_array(x: Any) -> Any:
    """Torch tensors pass through; anything else becomes a float64 numpy array."""
    return x if _is_torch(x) else np.asarray(x, dtype=np.float64)


def _weighted_mean(values: Any, weights: Any | None, axis: int) -> Any:
    """Mean along ``axis``; ``weights`` (same shape, or broadcastable) need not be normalized."""
    if weights is None:
        return values.mean(axis) if not _is_torch(values) else values.mean(dim=axis)
    if _is_torch(values):
        weights = weights if _is_torch(weights) else values.new_tensor(np.asarray(weights))
        return (values * weights).sum(dim=axis) / weights.sum(dim=axis)
    weights = np.asarray(weights, dtype=np.float64)
    return (values * weights).sum(axis) / np.broadcast_to(weights, values.shape).sum(axis)


def _lower_tail_mean(atoms: Any, weights: Any | None, alpha: float, axis: int) -> Any:
    """Exact mean of the lowest ``alpha`` probability mass of weighted atoms along ``axis``.

    The atom straddling the alpha boundary contributes only the fraction of its mass that lies
    inside the tail, so the result is exact for discrete distributions (not just asymptotically).
    """
    torch_mode = _is_torch(atoms)
    if torch_mode:
        import torch  # local import: rdo_gym must not import torch at import time

        atoms = atoms.movedim(axis, -1)
        if weights is None:
            weights = torch.ones_like(atoms)
        else:
            weights = weights if _is_torch(weights) else atoms.new_tensor(np.asarray(weights))
            weights = torch.broadcast_to(weights.movedim(axis, -1) if weights.dim() == atoms.dim()
                                         else weights, atoms.shape)
        order = torch.argsort(atoms, dim=-1)
        x = torch.gather(atoms, -1, order)
        w = torch.gather(weights, -1, order)
        w = w / w.sum(dim=-1, keepdim=True)
        before = torch.cumsum(w, dim=-1) - w
        inside = torch.clamp(torch.minimum(w, alpha - before), min=0.0)
        return (inside * x).sum(dim=-1) / alpha
    atoms = np.moveaxis(np.asarray(atoms, dtype=np.float64), axis, -1)
    if weights is None:
        weights = np.ones_like(atoms)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim == atoms.ndim:
            weights = np.moveaxis(weights, axis, -1)
        weights = np.broadcast_to(weights, atoms.shape)
    order = np.argsort(atoms, axis=-1, kind="stable")
    x = np.take_along_axis(atoms, order, -1)
    w = np.take_along_axis(weights, order, -1)
    w = w / w.sum(-1, keepdims=True)
    before = np.cumsum(w, -1) - w
    inside = np.clip(np.minimum(w, alpha - before), 0.0, None)
    return (inside * x).sum(-1) / alpha


def _check_distribution(returns: Any, weights: Any | None) -> None:
    if _is_torch(returns):
        return
    if returns.size == 0:
        raise ValueError("returns must contain at least one sample or atom, got an empty array")
    if not np.all(np.isfinite(returns)):
        raise ValueError("returns must be finite; got NaN or infinite values")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite and non-negative")


class Objective(ABC):
    """A stock-augmented expected utility ``E[f(c0 + G)]`` and the statistic it reports.

    Subclasses define :meth:`utility` (``f``), the initial stock (fixed, or ``None`` when it is
    searched), :meth:`value_from_utility` and :attr:`homogeneous` (whether ``f`` is positively
    homogeneous, which makes the greedy step valid for ``gamma < 1``).
    """

    #: Direction of :meth:`value`: ``True`` when a larger reported value is better.
    higher_is_better: bool = True
    #: ``f(k x) = k f(x)`` (or an increasing transform of it) for ``k > 0``: valid for gamma < 1.
    homogeneous: bool = True

    @abstractmethod
    def utility(self, x: Any) -> Any:
        """``f(x)`` element-wise on ``x = stock + return`` (numpy, float or torch)."""

    @property
    @abstractmethod
    def initial_stock(self) -> float | None:
        """The fixed ``c0`` this objective prescribes, or ``None`` when ``c0`` is searched."""

    @abstractmethod
    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        """Reported value of a policy started at ``c0 = initial_stock`` with ``E[f(c0+G)]``."""

    @abstractmethod
    def __str__(self) -> str:
        """The compact string form parsed by :func:`make_objective`."""

    # ----------------------------------------------------------------------------------------
    def check_gamma(self, gamma: float) -> float:
        """Raise ``ValueError`` if this objective cannot be optimized by the greedy step at gamma."""
        g = check_gamma(gamma)
        if g < 1.0 and not self.homogeneous:
            raise ValueError(
                f"objective {self} is not indifferent to gamma (its utility is not positively "
                f"homogeneous), so distributional DP / DηN cannot optimize it with gamma={gamma!r}; "
                "use gamma=1 (e.g. a finite-horizon env with the time left in the observation)"
            )
        return g

    def score(self, stock: Any, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """``E[f(stock + G)]`` for the distribution of ``G`` given by atoms along ``axis``.

        ``stock`` broadcasts against ``returns`` with ``axis`` removed. Used for acting (the greedy
        action maximizes it) and for the CVaR initial-stock search.
        """
        returns = _as_float_array(returns)
        stock = stock if _is_torch(stock) else np.asarray(stock, dtype=np.float64)
        if _is_torch(returns) and not _is_torch(stock):
            stock = returns.new_tensor(stock)
        ax = axis % returns.ndim
        expanded = stock.unsqueeze(ax) if _is_torch(stock) else np.expand_dims(stock, ax)
        return _weighted_mean(self.utility(expanded + returns), weights, ax)

    def value(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """Reported statistic of the law of ``G``: samples, or atoms with probability ``weights``.

        The objective's own initial stock is used (for CVaR, the exact lower-tail mean).
        """
        returns = _as_float_array(returns)
        _check_distribution(returns, weights)
        c0 = self.initial_stock
        return self.value_from_utility(c0, self.score(c0, returns, weights, axis))

    def select_initial_stock(self, stocks: Any, expected_utilities: Any) -> tuple[int, float]:
        """Choose ``c0`` among candidate ``stocks`` given ``E[f(c + G^pi_c)]`` for each.

        Returns ``(index, value)`` of the best candidate under :meth:`value_from_utility`. For a
        fixed-stock objective the candidates should all be that stock; for :class:`CVaR` this is
        the outer search ``max_c -c + E[min(c + G, 0)] / alpha``.
        """
        stocks = np.asarray(stocks, dtype=np.float64).reshape(-1)
        utilities = np.asarray(expected_utilities, dtype=np.float64).reshape(-1)
        if stocks.shape != utilities.shape or stocks.size == 0:
            raise ValueError(
                "stocks and expected_utilities must be non-empty and of the same length, got "
                f"{stocks.size} and {utilities.size}"
            )
        values = np.asarray(self.value_from_utility(stocks, utilities), dtype=np.float64)
        best = int(np.argmax(values) if self.higher_is_better else np.argmin(values))
        return best, float(values[best])

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, str(self)))

    def __repr__(self) -> str:
        return f"make_objective({str(self)!r})"


def _finite(name: str, value: Any, owner: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    return v


class Expectation(Objective):
    """Risk-neutral: ``f(x) = x``; reports ``E[G]``. Any initial stock works (0 is used)."""

    def utility(self, x: Any) -> Any:
        return x

    @property
    def initial_stock(self) -> float:
        return 0.0

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return expected_utility - initial_stock

    def __str__(self) -> str:
        return "mean"


class TargetReturn(Objective):
    """Hit ``target``: ``f(x) = -|x|`` with ``c0 = -target``; reports ``E|G - target|`` (lower is better)."""

    higher_is_better = False

    def __init__(self, target: float):
        self.target = _finite("target", target, "TargetReturn")

    def utility(self, x: Any) -> Any:
        return -abs(x)

    @property
    def initial_stock(self) -> float:
        return -self.target

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return -expected_utility

    def __str__(self) -> str:
        return f"target:{self.target:g}"


class ProbabilityAtLeast(Objective):
    """Reach ``threshold``: ``f(x) = 1{x >= 0}`` with ``c0 = -threshold``; reports ``P(G >= threshold)``."""

    def __init__(self, threshold: float):
        self.threshold = _finite("threshold", threshold, "ProbabilityAtLeast")

    def utility(self, x: Any) -> Any:
        if _is_torch(x):
            return (x >= 0).to(x.dtype)
        return (np.asarray(x) >= 0).astype(np.float64)

    @property
    def initial_stock(self) -> float:
        return -self.threshold

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return expected_utility

    def __str__(self) -> str:
        return f"prob:{self.threshold:g}"


class CVaR(Objective):
    """Lower-tail CVaR of the return: the mean of the worst ``alpha`` fraction of ``G``.

    ``alpha`` in (0, 1]; ``alpha = 1`` is the mean. Reduction (DESIGN.md):
    ``CVaR_alpha(G) = max_c { -c + E[min(c + G, 0)] / alpha }``, so ``f(x) = min(x, 0)`` and the
    initial stock ``c0 = -VaR_alpha`` is searched (:attr:`initial_stock` is ``None``).
    """

    def __init__(self, alpha: float):
        a = _finite("alpha", alpha, "CVaR")
        if not (0.0 < a <= 1.0):
            raise ValueError(f"CVaR: alpha must lie in (0, 1] (the tail probability), got {alpha!r}")
        self.alpha = a

    def utility(self, x: Any) -> Any:
        if _is_torch(x):
            return x.clamp(max=0.0)
        return np.minimum(x, 0.0)

    @property
    def initial_stock(self) -> None:
        return None

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return -initial_stock + expected_utility / self.alpha

    def value(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        returns = _as_float_array(returns)
        _check_distribution(returns, weights)
        return _lower_tail_mean(returns, weights, self.alpha, axis)

    def __str__(self) -> str:
        return f"cvar:{self.alpha:g}"


class Homeostasis(Objective):
    """Keep an internal variable near ``setpoint``: ``f(x) = -|x|`` on ``x = c0 + G``.

    Rewards are the changes of the internal variable, which starts at ``initial_level``; so
    ``c0 = initial_level - setpoint`` and the stock is the deviation from the set point. Reports the
    mean absolute deviation at the end, ``E|initial_level + G - setpoint|`` (lower is better).
    """

    higher_is_better = False

    def __init__(self, setpoint: float = 0.0, initial_level: float = 0.0):
        self.setpoint = _finite("setpoint", setpoint, "Homeostasis")
        self.initial_level = _finite("initial_level", initial_level, "Homeostasis")

    def utility(self, x: Any) -> Any:
        return -abs(x)

    @property
    def initial_stock(self) -> float:
        return self.initial_level - self.setpoint

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return -expected_utility

    def __str__(self) -> str:
        if self.initial_level == 0.0:
            return f"homeostasis:{self.setpoint:g}"
        return f"homeostasis:{self.setpoint:g}:{self.initial_level:g}"


class ExpectedUtility(Objective):
    """A user's utility: maximize ``E[f(c0 + G)]`` with a fixed ``initial_stock``; reports it.

    ``f`` must be vectorized and work on numpy arrays (and on torch tensors to be used by DηN).
    Declare ``homogeneous=True`` only if ``f`` is positively homogeneous (``f(kx) = k f(x)``, or an
    increasing transform of such), otherwise gamma < 1 is refused. ``name`` is its string form
    (``utility:NAME``); it cannot be parsed back from a string, only pickled (with cloudpickle for
    lambdas, as SB3's ``save`` does).
    """

    def __init__(self, f: Callable[[Any], Any], name: str = "custom", initial_stock: float = 0.0,
                 homogeneous: bool = False, higher_is_better: bool = True):
        if not callable(f):
            raise TypeError(f"ExpectedUtility: f must be callable, got {type(f).__name__}")
        if not name or any(ch in name for ch in " :"):
            raise ValueError(f"ExpectedUtility: name must be non-empty without spaces or ':', got {name!r}")
        self.f = f
        self.name = name
        self._initial_stock = _finite("initial_stock", initial_stock, "ExpectedUtility")
        self.homogeneous = bool(homogeneous)
        self.higher_is_better = bool(higher_is_better)

    def utility(self, x: Any) -> Any:
        return self.f(x)

    @property
    def initial_stock(self) -> float:
        return self._initial_stock

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return expected_utility

    def __str__(self) -> str:
        return f"utility:{self.name}"

    def __eq__(self, other: object) -> bool:
        return (type(other) is ExpectedUtility and other.f is self.f and other.name == self.name
                and other._initial_stock == self._initial_stock)

    def __hash__(self) -> int:
        return hash(("ExpectedUtility", self.name, self._initial_stock))

    def __repr__(self) -> str:
        return (f"ExpectedUtility({getattr(self.f, '__name__', self.f)!s}, name={self.name!r}, "
                f"initial_stock={self._initial_stock:g}, homogeneous={self.homogeneous})")


_SPEC_HELP = ("expected one of 'mean', 'target:G', 'prob:THRESHOLD', 'cvar:ALPHA', "
              "'homeostasis:SETPOINT[:INITIAL_LEVEL]'")


def make_objective(spec: str | Objective) -> Objective:
    """Build an objective from its string form (``"cvar:0.1"``), or return an ``Objective`` as is."""
    if isinstance(spec, Objective):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"objective must be an Objective or a string spec, got {type(spec).__name__}; {_SPEC_HELP}")
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    args = [a.strip() for a in rest.split(":")] if rest else []
    try:
        numbers = [float(a) for a in args]
    except ValueError:
        raise ValueError(f"malformed objective spec {spec!r}: arguments must be numbers; {_SPEC_HELP}") from None
    arity = {"mean": (0, 0), "expectation": (0, 0), "target": (1, 1), "prob": (1, 1),
             "cvar": (1, 1), "homeostasis": (1, 2)}
    if kind == "utility":
        raise ValueError(f"objective spec {spec!r} names a user utility; construct "
                         "rdo_gym.ExpectedUtility(f, name=...) in Python instead")
    if kind not in arity:
        raise ValueError(f"unknown objective {kind!r} in spec {spec!r}; {_SPEC_HELP}")
    lo, hi = arity[kind]
    if not (lo <= len(numbers) <= hi):
        raise ValueError(f"objective spec {spec!r} takes {lo if lo == hi else f'{lo} to {hi}'} "
                         f"argument(s), got {len(numbers)}; {_SPEC_HELP}")
    if kind in ("mean", "expectation"):
        return Expectation()
    if kind == "target":
        return TargetReturn(numbers[0])
    if kind == "prob":
        return ProbabilityAtLeast(numbers[0])
    if kind == "cvar":
        return CVaR(numbers[0])
    return Homeostasis(*numbers)
