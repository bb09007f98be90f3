"""Objectives on the law of `c0 + G`: defined once, used by the wrappers, the DP and the agent.

Conventions (`docs/concepts.md`, `docs/core.md`):

* `G` is the ordinary (discounted) return, rewards are "higher is better".
* `c0` is the initial stock. Every objective is a stock-augmented expected utility: the quantity
  optimized is `E[f(c0 + G)]` for a utility `f` (`utility`), possibly followed by an outer
  search over `c0` (only [`CVaR`][rdo_gym.objectives.CVaR]).
* `value` reports the statistic a user cares about (e.g. `CVaR_alpha(G)`, `E|G - target|`),
  computed from return samples or from weighted atoms. `higher_is_better` says its direction.
* `score(stock, returns)` is `E[f(stock + G)]` (acting). The initial stock is either fixed
  (`initial_stock`) or searched (`searches_initial_stock`, CVaR). Every caller (the DP, the
  agent, the evaluation) chooses it the same way: `initial_stock_candidates(stocks)` gives the
  stocks to score (the fixed one, or the caller's candidates), and
  `select_initial_stock(stocks, utilities)` picks among them (the outer
  `max_c -c + E[min(c + G, 0)] / alpha`); `best_initial_stock(returns)` is the closed form over
  one distribution (CVaR: `-VaR_alpha`).
* `utility` works element-wise on numpy arrays, python floats and torch tensors alike (torch is
  never imported here).

Every objective has a compact string form (`str(obj)`) that [`make_objective`][rdo_gym.objectives.make_objective]
parses back: `mean`, `target:5`, `prob:3`, `cvar:0.1`, `meancvar:0.1:0.5` (alpha, then the weight of
the mean), `homeostasis:0` (or `homeostasis:SET:INITIAL`).
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
    "MeanCVaR",
    "Homeostasis",
    "ExpectedUtility",
    "make_objective",
    "check_gamma",
]


def check_gamma(gamma: float) -> float:
    """Return `gamma` as a float, or raise `ValueError` unless it lies in (0, 1]."""
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number in (0, 1], got {gamma!r}") from None
    if not (0.0 < g <= 1.0):
        raise ValueError(f"gamma must lie in (0, 1], got gamma={gamma!r}")
    return g


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _fmt(x: float) -> str:
    """Shortest exact text of a float (`5` not `5.0`), so that string forms round-trip."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _as_float_array(x: Any) -> Any:
    """Floating torch tensors pass through (integer ones become the default float dtype);
    anything else becomes a float64 numpy array."""
    if _is_torch(x):
        if x.is_floating_point():
            return x
        import torch  # already imported by the caller, since x is a tensor

        return x.to(torch.get_default_dtype())
    return np.asarray(x, dtype=np.float64)


def _like(x: Any, reference: Any) -> Any:
    """`x` as a float tensor on `reference`'s device and dtype (`reference` is a tensor)."""
    if _is_torch(x):
        return x.to(device=reference.device, dtype=reference.dtype)
    return reference.new_tensor(np.asarray(x, dtype=np.float64))


def _check_step(step: Any, where: str) -> float:
    """The lattice step of the returns as a float `> 0`, else `ValueError` naming `where`."""
    step = _finite("step", step, where)
    if step <= 0:
        raise ValueError(f"lattice_utility: step (the lattice of the returns) must be > 0, got {step!r}")
    return step


def _negative_axis(axis: int, ndim: int) -> int:
    """`axis` counted from the end (`-1` is the last), with a clear error when out of range."""
    if ndim == 0:
        raise ValueError("returns must have at least one dimension (the atoms or samples), got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for returns with {ndim} dimension(s)")
    return axis - ndim if axis >= 0 else axis


def _align_weights(weights: Any, returns: Any, axis: int) -> Any:
    """`weights` broadcast to `returns.shape`, `axis` negative.

    Accepted: the shape of `returns` (or broadcastable to it), or a 1-D array of the length of
    `returns` along `axis` (the same probabilities for every distribution of a batch).
    """
    torch_mode = _is_torch(returns)
    w = _like(weights, returns) if torch_mode else np.asarray(weights, dtype=np.float64)
    shape = tuple(returns.shape)
    if w.ndim == 1 and len(shape) > 1:
        if w.shape[0] != shape[axis]:
            raise ValueError(f"1-D weights must have the length of the returns along axis={axis} "
                             f"({shape[axis]}), got {w.shape[0]}")
        w = w.reshape((-1,) + (1,) * (-axis - 1))
    try:
        return w.expand(shape) if torch_mode else np.broadcast_to(w, shape)
    except (ValueError, RuntimeError):
        raise ValueError(f"weights of shape {tuple(w.shape)} do not match returns of shape {shape}; "
                         "give one weight per atom (same shape as returns, or 1-D along axis)") from None


def _weighted_mean(values: Any, weights: Any | None, axis: int) -> Any:
    """Mean along the negative `axis`; `weights` (aligned by `_align_weights`, so of
    the shape of the returns, which `values` broadcasts over) need not be normalized."""
    if weights is None:
        return values.mean(dim=axis) if _is_torch(values) else values.mean(axis)
    if _is_torch(values):
        return (values * weights).sum(dim=axis) / weights.sum(dim=axis)
    return (values * weights).sum(axis) / weights.sum(axis)


def _sorted_atoms(atoms: Any, weights: Any | None, axis: int) -> tuple[Any, Any]:
    """Atoms sorted ascending along the last axis (`axis` moved there), with their normalized
    probabilities."""
    if _is_torch(atoms):
        import torch  # local import: rdo_gym must not import torch at import time

        w = torch.ones_like(atoms) if weights is None else _align_weights(weights, atoms, axis)
        atoms, w = atoms.movedim(axis, -1), w.movedim(axis, -1)
        order = torch.argsort(atoms, dim=-1, stable=True)
        x, w = torch.gather(atoms, -1, order), torch.gather(w, -1, order)
        return x, w / w.sum(dim=-1, keepdim=True)
    w = np.ones_like(atoms) if weights is None else _align_weights(weights, atoms, axis)
    atoms, w = np.moveaxis(atoms, axis, -1), np.moveaxis(w, axis, -1)
    order = np.argsort(atoms, axis=-1, kind="stable")
    x, w = np.take_along_axis(atoms, order, -1), np.take_along_axis(w, order, -1)
    return x, w / w.sum(-1, keepdims=True)


def _lower_tail_mean(atoms: Any, weights: Any | None, alpha: float, axis: int) -> Any:
    """Exact mean of the lowest `alpha` probability mass of weighted atoms along `axis`.

    The atom straddling the alpha boundary contributes only the fraction of its mass that lies
    inside the tail, so the result is exact for discrete distributions (not just asymptotically).
    """
    x, w = _sorted_atoms(atoms, weights, axis)
    if _is_torch(x):
        before = w.cumsum(dim=-1) - w
        inside = (alpha - before).clamp(min=0.0).minimum(w)
        return (inside / alpha * x).sum(dim=-1)
    before = np.cumsum(w, -1) - w
    inside = np.minimum(w, np.clip(alpha - before, 0.0, None))
    return (inside / alpha * x).sum(-1)  # fractions of the tail first: no underflow for tiny alpha


def _lower_quantile(atoms: Any, weights: Any | None, alpha: float, axis: int) -> Any:
    """`VaR_alpha`: the smallest atom whose cumulative probability reaches `alpha`."""
    x, w = _sorted_atoms(atoms, weights, axis)
    tolerance = 1e-12  # cumulative sums of e.g. ten 0.1s fall short of 1.0
    if _is_torch(x):
        index = (w.cumsum(dim=-1) < alpha - tolerance).sum(dim=-1, keepdim=True)
        index = index.clamp(max=x.shape[-1] - 1)
        return x.gather(-1, index).squeeze(-1)
    index = (np.cumsum(w, -1) < alpha - tolerance).sum(-1, keepdims=True)
    index = np.minimum(index, x.shape[-1] - 1)
    return np.take_along_axis(x, index, -1)[..., 0]


def _check_distribution(returns: Any, weights: Any | None, axis: int) -> None:
    """Validate numpy returns/weights (torch tensors are not checked, to stay cheap on GPU)."""
    if _is_torch(returns):
        return
    if returns.size == 0:
        raise ValueError("returns must contain at least one sample or atom, got an empty array")
    if not np.all(np.isfinite(returns)):
        raise ValueError("returns must be finite; got NaN or infinite values")
    if weights is not None:
        w = _align_weights(weights, returns, axis)
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite and non-negative (probabilities of the atoms)")
        if np.any(w.sum(axis) <= 0):
            raise ValueError("weights must have a positive sum for every distribution, got all zeros")


class Objective(ABC):
    """A stock-augmented expected utility `E[f(c0 + G)]` and the statistic it reports.

    Subclasses define [`utility`][rdo_gym.objectives.Objective.utility] (`f`), the initial stock (fixed, or `None`
    when it is searched, with `searches_initial_stock` set),
    [`value_from_utility`][rdo_gym.objectives.Objective.value_from_utility] and `homogeneous` (whether `f` is
    positively homogeneous, which makes the greedy step valid for `gamma < 1`).
    """

    higher_is_better: bool = True
    """Direction of [`value`][rdo_gym.objectives.Objective.value]: `True` when a larger reported value is
    better.
    """
    homogeneous: bool = True
    """`f(k x) = k f(x)` (or an increasing transform of it) for `k > 0`: valid for gamma < 1."""
    flat_utility: bool = False
    """`f` is piecewise constant (an indicator): exact ties of the action scores are the rule, not the
    exception, wherever no learned quantile crosses a step of `f`.
    """
    searches_initial_stock: bool = False
    """`True` when `c0` is chosen by an outer search ([`CVaR`][rdo_gym.objectives.CVaR]); then
    [`initial_stock`][rdo_gym.objectives.Objective.initial_stock] is `None` and callers must supply
    candidate stocks.
    """

    @abstractmethod
    def utility(self, x: Any) -> Any:
        """`f(x)` element-wise on `x = stock + return` (numpy, float or torch)."""

    @property
    @abstractmethod
    def initial_stock(self) -> float | None:
        """The fixed `c0` this objective prescribes, or `None` when `c0` is searched."""

    @abstractmethod
    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        """Reported value of a policy started at `c0 = initial_stock` with `E[f(c0+G)]`."""

    @abstractmethod
    def __str__(self) -> str:
        """The compact string form parsed by [`make_objective`][rdo_gym.objectives.make_objective]."""

    # ----------------------------------------------------------------------------------------
    def check_gamma(self, gamma: float) -> float:
        """Raise `ValueError` if this objective cannot be optimized by the greedy step at gamma."""
        g = check_gamma(gamma)
        if g < 1.0 and not self.homogeneous:
            raise ValueError(
                f"objective {self} is not indifferent to gamma (its utility is not positively "
                f"homogeneous), so distributional DP / DηN cannot optimize it with gamma={gamma!r}; "
                "use gamma=1 (e.g. a finite-horizon env with the time left in the observation)"
            )
        return g

    def score(self, stock: Any, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """`E[f(stock + G)]` for the distribution of `G` given by atoms along `axis`.

        `returns` holds samples or atoms of `G` along `axis` (other axes are a batch), with
        optional probabilities `weights` (the shape of `returns`, or 1-D along `axis`; need
        not be normalized). `stock` broadcasts, numpy style, against the batch shape
        (`returns.shape` with `axis` removed); extra leading axes of `stock` score every
        stock against every distribution, e.g. stocks `(K,)` and returns `(N,)` give `(K,)`.
        Used for acting (the greedy action maximizes it) and for the CVaR initial-stock search.
        """
        returns = _as_float_array(returns)
        if _is_torch(stock) and not _is_torch(returns):
            returns = _like(returns, _as_float_array(stock))
        ax = _negative_axis(axis, returns.ndim)
        if _is_torch(returns):
            stock = _like(stock, returns)
        else:
            stock = np.asarray(stock, dtype=np.float64)
        after = -ax - 1  # number of batch axes after the atom axis
        if stock.ndim > after:
            cut = stock.ndim - after
            stock = stock.reshape(tuple(stock.shape[:cut]) + (1,) + tuple(stock.shape[cut:]))
        if weights is not None:
            weights = _align_weights(weights, returns, ax)
        return _weighted_mean(self.utility(stock + returns), weights, ax)

    def lattice_utility(self, stocks: Any, returns_to_go: Any, step: float) -> Any:
        """`f(stocks + returns_to_go)` for returns-to-go known to lie on the lattice `step * Z`.

        Equal to the utility on the lattice, and robust to estimates that miss an atom (learned
        quantiles of a point mass scatter around it): each return-to-go is read as its nearest
        lattice point, `f(stocks + step * round(returns_to_go / step))`. A kink of `f` on an atom
        (`-|x|` of a target, `min(x, 0)` of CVaR) then costs nothing for estimates within half a step
        of it. [`ProbabilityAtLeast`][rdo_gym.objectives.ProbabilityAtLeast.lattice_utility] also snaps
        a threshold that float rounding moved off the lattice; [`Expectation`][rdo_gym.objectives.Expectation]
        keeps the plain utility (linear: nothing to snap). `stocks` broadcasts against
        `returns_to_go`; numpy or torch.
        """
        step = _check_step(step, f"{type(self).__name__}.lattice_utility")
        if _is_torch(returns_to_go):
            return self.utility(stocks + (returns_to_go / step).round() * step)  # half to even, as numpy
        return self.utility(stocks + np.round(np.asarray(returns_to_go, dtype=np.float64) / step) * step)

    def value(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """Reported statistic of the law of `G`: samples, or atoms with probability `weights`.

        `returns` and `weights` as in [`score`][rdo_gym.objectives.Objective.score]; the result has the batch shape. The
        objective's own initial stock is used (for CVaR, the exact lower-tail mean).
        """
        returns = _as_float_array(returns)
        ax = _negative_axis(axis, returns.ndim)
        _check_distribution(returns, weights, ax)
        c0 = self.initial_stock
        return self.value_from_utility(c0, self.score(c0, returns, weights, ax))

    def best_initial_stock(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """The `c0` to start from when the return distribution is the given one.

        For a fixed-stock objective this is [`initial_stock`][rdo_gym.objectives.Objective.initial_stock] (whatever
        the distribution); [`CVaR`][rdo_gym.objectives.CVaR] overrides it with the outer search over one distribution
        (or a batch).
        """
        return self.initial_stock

    def initial_stock_candidates(self, stocks: Any = None) -> np.ndarray:
        """The initial stocks to score, as a 1-D float64 array.

        A fixed-stock objective returns `[initial_stock]` whatever `stocks` is; a searched one
        returns `stocks` (finite, non-empty), and raises `ValueError` when none are given.
        Score each returned stock and pass the scores to
        [`select_initial_stock`][rdo_gym.objectives.Objective.select_initial_stock].
        """
        if not self.searches_initial_stock:
            return np.array([self.initial_stock], dtype=np.float64)
        if stocks is None:
            raise ValueError(f"objective {self} searches its initial stock: pass the candidate stocks to "
                             "search (e.g. a stock range)")
        try:
            out = np.asarray(stocks, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"initial_stock_candidates: stocks (the candidate initial stocks) must be numbers, "
                             f"got {stocks!r}") from None
        if out.size == 0 or not np.all(np.isfinite(out)):
            raise ValueError(f"initial_stock_candidates: stocks (the candidate initial stocks) must be finite and "
                             f"non-empty, got {stocks!r}")
        return out

    def select_initial_stock(self, stocks: Any, expected_utilities: Any) -> tuple[int, float]:
        """Choose `c0` among candidate `stocks` given `E[f(c + G^pi_c)]` for each.

        Returns `(index, value)` of the best candidate under
        [`value_from_utility`][rdo_gym.objectives.Objective.value_from_utility]. For a fixed-stock objective the
        candidates should all be that stock; for [`CVaR`][rdo_gym.objectives.CVaR] this is the outer search `max_c -c
        + E[min(c + G, 0)] / alpha`.
        """
        stocks = np.asarray(stocks, dtype=np.float64).reshape(-1)
        utilities = np.asarray(expected_utilities, dtype=np.float64).reshape(-1)
        if stocks.shape != utilities.shape or stocks.size == 0:
            raise ValueError(
                "stocks and expected_utilities must be non-empty and of the same length, got "
                f"{stocks.size} and {utilities.size}"
            )
        values = np.asarray(self.value_from_utility(stocks, utilities), dtype=np.float64)
        if np.any(np.isnan(values)):
            bad = int(np.flatnonzero(np.isnan(values))[0])
            raise ValueError(f"select_initial_stock: candidate stock {stocks[bad]:g} has value NaN "
                             f"(expected utility {utilities[bad]!r}); every candidate needs a number")
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
    """Risk-neutral: `f(x) = x`; reports `E[G]`. Any initial stock works (0 is used)."""

    def utility(self, x: Any) -> Any:
        return x

    @property
    def initial_stock(self) -> float:
        return 0.0

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return expected_utility - initial_stock

    def lattice_utility(self, stocks: Any, returns_to_go: Any, step: float) -> Any:
        """The plain utility: `x` is linear, so rounding the estimates to the lattice only adds error."""
        _check_step(step, "Expectation.lattice_utility")
        return self.utility(stocks + returns_to_go)

    def __str__(self) -> str:
        return "mean"


class TargetReturn(Objective):
    """Hit `target`: `f(x) = -|x|` with `c0 = -target`; reports `E|G - target|` (lower is better)."""

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
        return f"target:{_fmt(self.target)}"


class ProbabilityAtLeast(Objective):
    """Reach `threshold`: `f(x) = 1{x >= 0}` with `c0 = -threshold`; reports `P(G >= threshold)`.

    `x >= -1e-10` counts as reaching it: a return that equals the threshold in exact arithmetic
    must not miss it through float rounding of the reward sum (`-0.9 + 0.3 + 0.3 + 0.3 < 0`).
    """

    flat_utility = True
    tolerance = 1e-10
    """Absolute tolerance of the threshold comparison (float rounding of sums of rewards)."""
    LATTICE_SNAP = 1e-5
    """Relative tolerance within which `-c / step` counts as an integer in
    [`lattice_utility`][rdo_gym.objectives.ProbabilityAtLeast.lattice_utility] (float32 stocks)."""

    def __init__(self, threshold: float):
        self.threshold = _finite("threshold", threshold, "ProbabilityAtLeast")

    def utility(self, x: Any) -> Any:
        if _is_torch(x):
            return (x >= -self.tolerance).to(x.dtype)
        return (np.asarray(x) >= -self.tolerance).astype(np.float64)

    @property
    def initial_stock(self) -> float:
        return -self.threshold

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return expected_utility

    def lattice_utility(self, stocks: Any, returns_to_go: Any, step: float) -> Any:
        """`1{c + G >= 0}` for `G` on `step * Z`, compared at the midpoint below the threshold.

        On the lattice, `c + G >= 0` holds exactly when `G >= k * step` with `k = ceil(-c / step)`, i.e.
        when `G >= (k - 1/2) * step`: the same event, but an estimate of the atom `k * step` that falls
        a hair short of it still counts. With 0/1 returns and `prob:1` (FrozenLake), half of the
        learned quantiles of a sure success sit just below 1 and the plain indicator misses them.
        """
        step = _check_step(step, "ProbabilityAtLeast.lattice_utility")
        # -c / step is an integer up to float rounding of the stock (float32 in observations): snap it
        # to that integer before the ceiling, within a relative LATTICE_SNAP.
        if _is_torch(returns_to_go):
            units = -_like(stocks, returns_to_go) / step
            k = (units - self.LATTICE_SNAP * units.abs().clamp(min=1.0)).ceil()
            return (returns_to_go >= (k - 0.5) * step).to(returns_to_go.dtype)
        units = -np.asarray(stocks, dtype=np.float64) / step
        k = np.ceil(units - self.LATTICE_SNAP * np.maximum(np.abs(units), 1.0))
        return (np.asarray(returns_to_go) >= (k - 0.5) * step).astype(np.float64)

    def __str__(self) -> str:
        return f"prob:{_fmt(self.threshold)}"


class CVaR(Objective):
    """Lower-tail CVaR of the return: the mean of the worst `alpha` fraction of `G`.

    `alpha` in (0, 1]; `alpha = 1` is the mean. Reduction (`docs/concepts.md`):
    `CVaR_alpha(G) = max_c { -c + E[min(c + G, 0)] / alpha }`, so `f(x) = min(x, 0)` and the
    initial stock `c0 = -VaR_alpha` is searched ([`initial_stock`][rdo_gym.objectives.Objective.initial_stock] is
    `None`).

    Examples:
        >>> cvar = CVaR(0.25)
        >>> float(cvar.value([-4.0, 0.0, 1.0, 5.0]))      # the worst 25% of four equally likely returns
        -4.0
        >>> float(cvar.best_initial_stock([-4.0, 0.0, 1.0, 5.0]))  # c0 = -VaR
        4.0
        >>> cvar.searches_initial_stock, cvar.initial_stock
        (True, None)
    """

    searches_initial_stock = True

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
        """`CVaR_alpha(G)`: the exact mean of the lowest `alpha` probability mass of `G`."""
        returns = _as_float_array(returns)
        ax = _negative_axis(axis, returns.ndim)
        _check_distribution(returns, weights, ax)
        return _lower_tail_mean(returns, weights, self.alpha, ax)

    def best_initial_stock(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """`argmax_c -c + E[min(c + G, 0)] / alpha` over the given distribution(s) of `G`.

        The maximizer is `c0 = -VaR_alpha(G)` (minus the lower `alpha`-quantile, the smallest
        atom whose cumulative probability reaches `alpha`); plugging it into the outer objective
        gives [`value`][rdo_gym.objectives.CVaR.value]. For a *family* of stock-conditioned distributions (one policy
        per stock), score each candidate stock and use
        [`select_initial_stock`][rdo_gym.objectives.Objective.select_initial_stock] instead.
        """
        returns = _as_float_array(returns)
        ax = _negative_axis(axis, returns.ndim)
        _check_distribution(returns, weights, ax)
        return -_lower_quantile(returns, weights, self.alpha, ax)

    def __str__(self) -> str:
        return f"cvar:{_fmt(self.alpha)}"


class MeanCVaR(Objective):
    """`lam * E[G] + (1 - lam) * CVaR_alpha(G)`: a blend of the mean and the lower tail.

    `alpha` in (0, 1] as for [`CVaR`][rdo_gym.objectives.CVaR], `lam` in [0, 1] (`lam = 0` is CVaR, `lam = 1`
    the mean). It reduces like CVaR: with `c0 = -b`, the value is `max_c -c + E[f(c + G)]` for
    `f(x) = lam * x + ((1 - lam) / alpha) * min(x, 0)`, piecewise linear and positively
    homogeneous (valid for gamma < 1); the initial stock is searched, and `c0 = -VaR_alpha` over
    one distribution.

    Examples:
        >>> blend = MeanCVaR(0.25, 0.5)
        >>> float(blend.value([-4.0, 0.0, 1.0, 5.0]))   # 0.5 * mean 0.5 + 0.5 * CVaR -4
        -1.75
        >>> str(blend), float(blend.best_initial_stock([-4.0, 0.0, 1.0, 5.0]))
        ('meancvar:0.25:0.5', 4.0)
    """

    searches_initial_stock = True

    def __init__(self, alpha: float, lam: float):
        a = _finite("alpha", alpha, "MeanCVaR")
        if not (0.0 < a <= 1.0):
            raise ValueError(f"MeanCVaR: alpha must lie in (0, 1] (the tail probability), got {alpha!r}")
        w = _finite("lam", lam, "MeanCVaR")
        if not (0.0 <= w <= 1.0):
            raise ValueError(f"MeanCVaR: lam must lie in [0, 1] (the weight of the mean), got {lam!r}")
        self.alpha, self.lam = a, w

    def utility(self, x: Any) -> Any:
        tail = (1.0 - self.lam) / self.alpha
        if _is_torch(x):
            return self.lam * x + tail * x.clamp(max=0.0)
        return self.lam * x + tail * np.minimum(x, 0.0)

    @property
    def initial_stock(self) -> None:
        return None

    def value_from_utility(self, initial_stock: Any, expected_utility: Any) -> Any:
        return -initial_stock + expected_utility

    def value(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """`lam * E[G] + (1 - lam) * CVaR_alpha(G)`, exact for weighted atoms."""
        returns = _as_float_array(returns)
        ax = _negative_axis(axis, returns.ndim)
        _check_distribution(returns, weights, ax)
        if weights is not None:
            weights = _align_weights(weights, returns, ax)
        mean = _weighted_mean(returns, weights, ax)
        return self.lam * mean + (1.0 - self.lam) * _lower_tail_mean(returns, weights, self.alpha, ax)

    def best_initial_stock(self, returns: Any, weights: Any | None = None, axis: int = -1) -> Any:
        """`c0 = -VaR_alpha(G)`: the mean part does not depend on `c0`."""
        return CVaR(self.alpha).best_initial_stock(returns, weights, axis)

    def __str__(self) -> str:
        return f"meancvar:{_fmt(self.alpha)}:{_fmt(self.lam)}"


class Homeostasis(Objective):
    """Keep an internal variable near `setpoint`: `f(x) = -|x|` on `x = c0 + G`.

    Rewards are the changes of the internal variable, which starts at `initial_level`; so
    `c0 = initial_level - setpoint` and the stock is the deviation from the set point. Reports the
    mean absolute deviation at the end, `E|initial_level + G - setpoint|` (lower is better).
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
            return f"homeostasis:{_fmt(self.setpoint)}"
        return f"homeostasis:{_fmt(self.setpoint)}:{_fmt(self.initial_level)}"


class ExpectedUtility(Objective):
    """A user's utility: maximize `E[f(c0 + G)]` with a fixed `initial_stock`; reports it.

    `f` must be vectorized and work on numpy arrays (and on torch tensors to be used by DηN).
    Declare `homogeneous=True` only if `f` is positively homogeneous (`f(kx) = k f(x)`, or an
    increasing transform of such), otherwise gamma < 1 is refused. Declare `flat_utility=True` if
    `f` is piecewise constant (a step function): DηN's default tie rule then ranks tied actions by
    the mean return (`docs/agent.md`). `name` is its string form
    (`utility:NAME`); it cannot be parsed back from a string, only pickled (with cloudpickle for
    lambdas, as SB3's `save` does). The reported value is `E[f(c0 + G)]`, higher is better (to
    minimize a cost `g`, pass `f = -g`).

    Examples:
        >>> import numpy as np
        >>> squared = ExpectedUtility(lambda x: -np.square(x), name="squared", initial_stock=-3.0)
        >>> float(squared.value([2.0, 4.0]))                 # E[-(c0 + G)^2] with c0 = -3
        -1.0
        >>> str(squared)
        'utility:squared'
    """

    def __init__(self, f: Callable[[Any], Any], name: str = "custom", initial_stock: float = 0.0,
                 homogeneous: bool = False, flat_utility: bool = False):
        if not callable(f):
            raise TypeError(f"ExpectedUtility: f must be callable, got {type(f).__name__}")
        if not isinstance(name, str) or not name or any(ch.isspace() or ch == ":" for ch in name):
            raise ValueError(f"ExpectedUtility: name must be non-empty without spaces or ':', got {name!r}")
        self.f = f
        self.name = name
        self._initial_stock = _finite("initial_stock", initial_stock, "ExpectedUtility")
        self.homogeneous = bool(homogeneous)
        self.flat_utility = bool(flat_utility)

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
                f"initial_stock={_fmt(self._initial_stock)}, homogeneous={self.homogeneous}, "
                f"flat_utility={self.flat_utility})")


_SPEC_HELP = ("expected one of 'mean', 'target:G', 'prob:THRESHOLD', 'cvar:ALPHA', "
              "'meancvar:ALPHA:LAM', 'homeostasis:SETPOINT[:INITIAL_LEVEL]'")


def _shown(text: str) -> str:
    """`repr` of user text, with escapes for non-ASCII look-alikes (a Cyrillic `а` in `cvаr`)."""
    return repr(text) if text.isascii() else ascii(text)


def make_objective(spec: str | Objective) -> Objective:
    """Build an objective from its string form (`"cvar:0.1"`), or return an `Objective` as is.

    Examples:
        >>> make_objective("target:4")
        make_objective('target:4')
        >>> obj = make_objective("prob:2")
        >>> obj.initial_stock, float(obj.value([1.0, 2.0, 3.0, 5.0]))  # P(G >= 2)
        (-2.0, 0.75)
        >>> make_objective(str(CVaR(0.1))) == CVaR(0.1)
        True
    """
    if isinstance(spec, Objective):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"objective must be an Objective or a string spec, got "
                        f"{type(spec).__name__}; {_SPEC_HELP}")
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    args = [a.strip() for a in rest.split(":")] if rest else []
    arity = {"mean": (0, 0), "expectation": (0, 0), "target": (1, 1), "prob": (1, 1),
             "cvar": (1, 1), "meancvar": (2, 2), "homeostasis": (1, 2)}
    if kind == "utility":
        raise ValueError(f"objective spec {_shown(spec)} names a user utility; construct "
                         "rdo_gym.ExpectedUtility(f, name=...) in Python instead")
    if kind not in arity:
        raise ValueError(f"unknown objective {_shown(kind)} in spec {_shown(spec)}; {_SPEC_HELP}")
    try:
        numbers = [float(a) for a in args]
    except ValueError:
        raise ValueError(f"malformed objective spec {_shown(spec)}: arguments must be numbers; "
                         f"{_SPEC_HELP}") from None
    lo, hi = arity[kind]
    if not (lo <= len(numbers) <= hi):
        raise ValueError(f"objective spec {_shown(spec)} takes {lo if lo == hi else f'{lo} to {hi}'} "
                         f"argument(s), got {len(numbers)}; {_SPEC_HELP}")
    if kind in ("mean", "expectation"):
        return Expectation()
    if kind == "target":
        return TargetReturn(numbers[0])
    if kind == "prob":
        return ProbabilityAtLeast(numbers[0])
    if kind == "cvar":
        return CVaR(numbers[0])
    if kind == "meancvar":
        return MeanCVaR(*numbers)
    return Homeostasis(*numbers)
