"""Stock augmentation: put the (rescaled) sum of rewards so far into the observation of any env.

Convention (`docs/core.md`): `C_0 = c0` and `C_{t+1} = (C_t + R_{t+1}) / gamma`, i.e.
`C_t = gamma^-t (c0 + sum_{k<t} gamma^k R_{k+1})`, so that `c0 + G_0 = gamma^t (C_t + G_t)`
and, at termination, `c0 + G = gamma^T C_T`. The wrapper keeps the numerically stable
`X_t = c0 + sum_{k<t} gamma^k R_{k+1}` and `gamma^t` in float64 and derives `C_t` from them.
"""

from __future__ import annotations

import bisect
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rdo_gym.objectives import check_gamma

__all__ = ["StockAugmentation", "StockLayout", "StockRange", "UniformStock", "ChoiceStock", "make_initial_stock",
           "find_stock_wrapper", "REPRESENTATIONS", "DEFAULT_DISCOUNTED_REPRESENTATION", "check_representation"]

STOCK_KEY = "stock"
OBSERVATION_KEY = "observation"

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
DEFAULT_DISCOUNTED_REPRESENTATION = "raw"
"""The representation [`StockAugmentation`][rdo_gym.stock.StockAugmentation] uses for `gamma < 1` when none is
given (`docs/benchmarks.md`, "Long episodes: stock representation", has the measurement)."""
_FLOAT32_EXACT = 2.0**24  # beyond it, float32 cannot hold every integer: the observed stock is rounded
_isfinite = math.isfinite
# Reward types converted with a plain float(): the generic numpy checks cost ~1 us per step.
_REAL_SCALAR_TYPES = frozenset({float, int, np.float64, np.float32, np.float16, np.int64, np.int32,
                                np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64})


@dataclass(frozen=True)
class StockRange:
    """The support of an initial-stock sampler: stocks in `[low, high]`, integers only if `integer`.

    Agents draw relabelled stocks from it and search the CVaR initial stock over
    [`candidates`][rdo_gym.stock.StockRange.candidates]. A sampler of your own can expose one as its `support`
    attribute.
    """

    low: float
    high: float
    integer: bool = False

    def __post_init__(self) -> None:
        try:
            low, high = float(self.low), float(self.high)
        except (TypeError, ValueError):
            raise ValueError(f"StockRange needs numbers low <= high, got low={self.low!r}, "
                             f"high={self.high!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"StockRange needs finite low <= high, got low={self.low!r}, high={self.high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "integer", bool(self.integer))

    @classmethod
    def of(cls, value: Any) -> StockRange:
        """A `StockRange` from itself or a pair `(low, high)` (real stocks)."""
        if isinstance(value, StockRange):
            return value
        try:
            low, high = value
        except (TypeError, ValueError):
            raise ValueError(f"a stock range must be a pair (low, high) of numbers, got {value!r}") from None
        return cls(low, high)

    def candidates(self, n: int = 101) -> np.ndarray:
        """Candidate initial stocks: every integer when `integer` (at most 1001 of them), else
        `n` evenly spaced values from `low` to `high`."""
        if self.integer and self.high - self.low <= 1000:
            return np.arange(self.low, self.high + 1.0)
        return np.linspace(self.low, self.high, n)


class UniformStock:
    """Initial-stock sampler: uniform on `[low, high]`.

    With `integer=True` it draws integers in `{low, ..., high}` (for lattice rewards). Its
    string form [`spec`][rdo_gym.stock.UniformStock.spec] (`"uniform:-8:8"`, `"uniform-int:-8:8"`) is read back by
    [`make_initial_stock`][rdo_gym.stock.make_initial_stock], so a YAML file or a command line can name it.

    Examples:
        >>> UniformStock(-8, 8, integer=True).spec
        'uniform-int:-8:8'
        >>> make_initial_stock("uniform:-2.5:4") == UniformStock(-2.5, 4)
        True
    """

    def __init__(self, low: float, high: float, integer: bool = False):
        try:
            low, high = float(low), float(high)
        except (TypeError, ValueError):
            raise ValueError(f"UniformStock needs numbers low <= high, got low={low!r}, "
                             f"high={high!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"UniformStock needs finite low <= high, got low={low}, high={high}")
        if integer and (low != int(low) or high != int(high)):
            raise ValueError(f"UniformStock(integer=True) needs integer bounds, got {low}, {high}")
        self.low, self.high, self.integer = low, high, bool(integer)
        self._span = high - low  # +inf for bounds near +-1.8e308: then draw as (1 - u) low + u high

    def __call__(self, rng: np.random.Generator) -> float:
        # One rng.random() draw: Generator.uniform/integers with scalar arguments cost several
        # microseconds each (broadcasting machinery), which showed at every reset.
        u = rng.random()
        if self.integer:
            count = int(self.high - self.low) + 1  # floor(u * count) is uniform to within 2^-53
            return self.low + min(int(u * count), count - 1)
        if self._span == math.inf:
            return (1.0 - u) * self.low + u * self.high
        return self.low + self._span * u

    @property
    def support(self) -> StockRange:
        """`[low, high]` (integers with `integer=True`)."""
        return StockRange(self.low, self.high, self.integer)

    @property
    def spec(self) -> str:
        """The string form read back by [`make_initial_stock`][rdo_gym.stock.make_initial_stock]: `"uniform:LOW:HIGH"`
        or `"uniform-int:LOW:HIGH"`."""
        kind = "uniform-int" if self.integer else "uniform"
        return f"{kind}:{_format_number(self.low)}:{_format_number(self.high)}"

    def __str__(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        return f"UniformStock({self.low!r}, {self.high!r}, integer={self.integer})"

    def __eq__(self, other: object) -> bool:
        return (type(other) is UniformStock and (self.low, self.high, self.integer)
                == (other.low, other.high, other.integer))

    def __hash__(self) -> int:
        return hash(("UniformStock", self.low, self.high, self.integer))


class ChoiceStock:
    """Initial-stock sampler: one of `values` (with optional probabilities `p`).

    Its string form [`spec`][rdo_gym.stock.ChoiceStock.spec] (`"choice:0,2,5"`, with probabilities
    `"choice:0,2,5:0.2,0.3,0.5"`) is read back by [`make_initial_stock`][rdo_gym.stock.make_initial_stock].

    Examples:
        >>> ChoiceStock([0, 2, 5]).spec
        'choice:0,2,5'
        >>> make_initial_stock("choice:-1,3:0.25,0.75") == ChoiceStock([-1, 3], p=[0.25, 0.75])
        True
    """

    def __init__(self, values: Sequence[float], p: Sequence[float] | None = None):
        try:
            self.values = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"ChoiceStock needs a non-empty list of finite values, got {values!r}") from None
        if self.values.size == 0 or not np.all(np.isfinite(self.values)):
            raise ValueError(f"ChoiceStock needs a non-empty list of finite values, got {values!r}")
        self.p = None if p is None else np.asarray(p, dtype=np.float64)
        if self.p is not None and (self.p.shape != self.values.shape or np.any(self.p < 0)
                                   or not np.isclose(self.p.sum(), 1.0)):
            raise ValueError(f"ChoiceStock: p must be probabilities matching values, got {p!r}")
        # Python lists: indexing and bisect on them are much cheaper than numpy calls per reset.
        self._values = self.values.tolist()
        self._cdf = None if self.p is None else np.cumsum(self.p / self.p.sum()).tolist()

    def __call__(self, rng: np.random.Generator) -> float:
        u = rng.random()  # one draw; rng.choice costs ~10 us per call
        n = len(self._values)
        if self._cdf is None:
            return self._values[min(int(u * n), n - 1)]
        index = min(bisect.bisect_right(self._cdf, u), n - 1)
        while self.p[index] == 0.0:  # clamped onto a zero-probability last value (cdf rounding)
            index -= 1
        return self._values[index]

    @property
    def support(self) -> StockRange:
        """`[min(values), max(values)]`, integer when every value is an integer."""
        v = self.values
        return StockRange(float(v.min()), float(v.max()), bool(np.all(v == np.round(v))))

    @property
    def spec(self) -> str:
        """The string form read back by [`make_initial_stock`][rdo_gym.stock.make_initial_stock]:
        `"choice:V1,V2,..."`, followed by `":P1,P2,..."` when probabilities were given."""
        values = ",".join(_format_number(v) for v in self._values)
        if self.p is None:
            return f"choice:{values}"
        return f"choice:{values}:{','.join(_format_number(q) for q in self.p.tolist())}"

    def __str__(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        p = "" if self.p is None else f", p={self.p.tolist()}"
        return f"ChoiceStock({self.values.tolist()}{p})"

    def __eq__(self, other: object) -> bool:
        return (type(other) is ChoiceStock and np.array_equal(self.values, other.values)
                and (self.p is None) == (other.p is None)
                and (self.p is None or np.array_equal(self.p, other.p)))

    def __hash__(self) -> int:
        return hash(("ChoiceStock", tuple(self.values.tolist())))


InitialStock = float | str | Callable[[np.random.Generator], float]
_OWN_SAMPLERS = (UniformStock, ChoiceStock)
_SPEC_FORMS = '"uniform:LOW:HIGH", "uniform-int:LOW:HIGH", "choice:V1,V2,..." or "choice:V1,V2,...:P1,P2,..."'


def _format_number(x: float) -> str:
    """`x` as the shortest string that reads back to the same float (`-8` rather than `-8.0`)."""
    if x == int(x) and abs(x) < 2.0**53:
        return str(int(x))
    return repr(float(x))


def _parse_numbers(text: str, spec: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if not numbers or not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"initial stock {spec!r}: {text!r} is not a comma-separated list of finite numbers; "
                         f"accepted forms: {_SPEC_FORMS}")
    return numbers


def make_initial_stock(spec: InitialStock) -> float | Callable[[np.random.Generator], float]:
    """An initial stock `c0` or sampler from its string form (the inverse of the samplers' `spec`).

    Accepted strings: `"uniform:LOW:HIGH"`
    ([`UniformStock`][rdo_gym.stock.UniformStock]), `"uniform-int:LOW:HIGH"` (`UniformStock(..., integer=True)`),
    `"choice:V1,V2,..."` and `"choice:V1,V2,...:P1,P2,..."` ([`ChoiceStock`][rdo_gym.stock.ChoiceStock], with
    probabilities). A number (a fixed `c0`) or a sampler (any callable) is returned unchanged, so that
    `make_initial_stock(sampler.spec) == sampler` and YAML files (e.g. an RL Zoo `env_wrapper:`
    entry) can give the sampler of [`StockAugmentation`][rdo_gym.stock.StockAugmentation] as a string.

    Args:
        spec: a string as above, a number, or a sampler `rng -> float`.

    Returns:
        A float `c0` or a sampler.

    Raises:
        ValueError: for a string of none of these forms, naming the accepted ones (a number in a
            string, such as `"3"`, is refused: a fixed `c0` is given as a number).

    Examples:
        >>> make_initial_stock("uniform-int:-10:6")
        UniformStock(-10.0, 6.0, integer=True)
        >>> make_initial_stock("choice:0,2,5")
        ChoiceStock([0.0, 2.0, 5.0])
        >>> make_initial_stock(3.0)
        3.0
    """
    if isinstance(spec, bytes):
        spec = spec.decode()
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if not rest:
        try:
            float(text)
        except ValueError:
            raise ValueError(f"initial stock {spec!r} is not understood; accepted forms: {_SPEC_FORMS}") from None
        raise ValueError(f"initial stock {spec!r}: a fixed initial stock is a number, not a string (in YAML, "
                         f"write it unquoted); the string forms name samplers: {_SPEC_FORMS}")
    if kind in ("uniform", "uniform-int"):
        parts = rest.split(":")
        if len(parts) != 2:
            raise ValueError(f"initial stock {spec!r}: {kind} needs two bounds, as in '{kind}:-8:8'")
        try:
            low, high = (float(part) for part in parts)
        except ValueError:
            low = high = math.nan
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"initial stock {spec!r}: {kind} needs two finite numbers, as in '{kind}:-8:8'")
        return UniformStock(low, high, integer=kind == "uniform-int")
    if kind == "choice":
        values, _, probabilities = rest.partition(":")
        if ":" in probabilities:
            raise ValueError(f"initial stock {spec!r}: choice takes values and optional probabilities, as in "
                             "'choice:0,2,5' or 'choice:0,2,5:0.2,0.3,0.5'")
        p = _parse_numbers(probabilities, spec) if probabilities else None
        return ChoiceStock(_parse_numbers(values, spec), p=p)
    raise ValueError(f"initial stock {spec!r}: unknown sampler {kind!r}; accepted forms: {_SPEC_FORMS}")


def _check_sampler_signature(sampler: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(sampler)
    except (TypeError, ValueError):  # a builtin without a signature: it is called and checked at reset
        return
    try:
        signature.bind(None)
    except TypeError:
        raise ValueError(f"StockAugmentation(initial_stock=...): a sampler is called as sampler(rng) with "
                         f"a numpy Generator and returns c0, but {sampler!r} has the signature "
                         f"{signature}; e.g. initial_stock=lambda rng: rng.uniform(-5, 5), or "
                         "rdo_gym.UniformStock(-5, 5)") from None


def _check_stock(value: Any, where: str) -> float:
    try:
        c = float(value)
    except (TypeError, ValueError):
        c = math.nan
    if isinstance(value, (str, bytes)) or not math.isfinite(c):
        raise ValueError(f"{where}: the initial stock must be a finite number (or, as the wrapper's "
                         "initial_stock, a sampler rng -> float such as UniformStock(low, high) or "
                         f"ChoiceStock(values)), got {value!r}")
    return c


def _check_initial_stock(initial_stock: InitialStock) -> float | Callable[[np.random.Generator], float]:
    if isinstance(initial_stock, (str, bytes)):
        initial_stock = make_initial_stock(initial_stock)
    if not callable(initial_stock):
        return _check_stock(initial_stock, "StockAugmentation(initial_stock=...)")
    if type(initial_stock) not in _OWN_SAMPLERS:
        _check_sampler_signature(initial_stock)
    return initial_stock


def _check_scale(stock_scale: Any) -> float:
    try:
        scale = float(stock_scale)
    except (TypeError, ValueError):
        scale = math.nan
    if not (_FLOAT32_TINY <= scale <= _FLOAT32_MAX):
        raise ValueError(f"stock_scale must be a positive number within float32's normal range "
                         f"[{_FLOAT32_TINY:.3g}, {_FLOAT32_MAX:.3g}] (the observation is float32), "
                         f"got {stock_scale!r}")
    return scale


def _support(initial_stock: InitialStock) -> StockRange | None:
    if not callable(initial_stock):
        return StockRange(initial_stock, initial_stock)
    support = getattr(initial_stock, "support", None)
    return support if isinstance(support, StockRange) else None


REPRESENTATIONS = ("raw", "discounted")
"""How [`StockAugmentation`][rdo_gym.stock.StockAugmentation] puts the stock in the observation: `"raw"`
(`scale * C_t`) or `"discounted"` (`scale * X_t` and `gamma^t`, bounded for any episode length)."""


def check_representation(representation: Any) -> str:
    """`representation` if it is one of [`REPRESENTATIONS`][rdo_gym.stock.REPRESENTATIONS], else `ValueError`."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS} (how the observation carries the "
                         f"stock: 'raw' = scale * C_t, 'discounted' = scale * gamma^t C_t and gamma^t), got "
                         f"{representation!r}")
    return representation


@dataclass(frozen=True)
class StockLayout:
    """How a [`StockAugmentation`][rdo_gym.stock.StockAugmentation] env presents the stock: written by the wrapper,
    read by every agent, the command line and the evaluation (one description, never re-specified).

    Whatever the representation, [`read`][rdo_gym.stock.StockLayout.read] gives the unscaled stock `C_t` and
    [`with_stocks`][rdo_gym.stock.StockLayout.with_stocks] writes one, so readers never depend on it.

    Attributes:
        gamma: the discount of the stock recursion `C_{t+1} = (C_t + R_{t+1}) / gamma`.
        scale: the factor on the stock entry of the observation (float32).
        key: the Dict observation key holding the stock (a `(1,)` Box, `(2,)` when discounted), or `None`
            when flat.
        index: the stock's index in a flat 1-D Box observation, or `None`: the last entry (`"raw"`), the
            second to last with `gamma^t` last (`"discounted"`).
        support: the initial-stock sampler's [`StockRange`][rdo_gym.stock.StockRange], or `None` for a sampler that
            does not expose one.
        representation: `"raw"`: the stock entry is `scale * C_t`. `"discounted"`: it is `scale * X_t`, with
            `X_t = gamma^t C_t = c0 + sum_{k<t} gamma^k R_{k+1}`, followed by `gamma^t`; both stay bounded
            however long the episode, and `C_t = X_t / gamma^t`.

    Examples:
        >>> import numpy as np
        >>> layout = StockLayout(0.5, 0.5, None, 2, None, "discounted")
        >>> obs = np.array([7.0, 7.0, 1.5, 0.25])        # X = 3 (scaled 1.5), gamma^t = 0.25 (t = 2)
        >>> float(layout.read(obs))                       # C = X / gamma^t
        12.0
        >>> layout.with_stocks(obs, [4.0]).tolist()       # C = 4 at the same time: X = 0.25 * 4 = 1
        [[7.0, 7.0, 0.5, 0.25]]
    """

    gamma: float
    scale: float
    key: str | None
    index: int | None
    support: StockRange | None
    representation: str = "raw"

    @property
    def discounted(self) -> bool:
        """Whether the observation carries `(scale * X_t, gamma^t)` rather than `scale * C_t`."""
        return self.representation == "discounted"

    @property
    def size(self) -> int:
        """How many observation entries describe the stock: 1 (`"raw"`) or 2 (`"discounted"`)."""
        return 2 if self.discounted else 1

    def _entries(self, observation: Any) -> tuple[Any, Any]:
        """The scaled stock entry and the `gamma^t` entry (`None` when raw) of (a batch of) observations."""
        if self.key is not None:
            stock = observation[self.key]
            return stock[..., 0], (stock[..., 1] if self.discounted else None)
        return observation[..., self.index], (observation[..., self.index + 1] if self.discounted else None)

    def read(self, observation: Any) -> Any:
        """Unscaled stocks `C` of (a batch of) observations, numpy arrays or torch tensors alike.

        Discounted: `X_t / gamma^t` (in float64 for numpy arrays), `+-inf` once `gamma^t` underflowed to 0
        in the observation (`nan` when `X_t` is 0 too);
        [`read_discounted`][rdo_gym.stock.StockLayout.read_discounted] never divides.
        """
        scaled, discount = self._entries(observation)
        if discount is None:
            return scaled / self.scale
        if isinstance(scaled, np.ndarray) or np.isscalar(scaled):  # float64: C may exceed float32's range
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(scaled, dtype=np.float64) / self.scale / np.asarray(discount, dtype=np.float64)
        return scaled / self.scale / discount

    def read_discounted(self, observation: Any) -> tuple[Any, Any]:
        """`(X, gamma^t)` of (a batch of) observations, with `X = gamma^t C` unscaled: the form that
        stays finite in long discounted episodes. A raw layout does not carry `gamma^t`: it gives
        `(C, 1)`, and `X + gamma^t G = C + G` still holds."""
        scaled, discount = self._entries(observation)
        x = scaled / self.scale
        if discount is None:
            discount = x * 0 + 1  # ones of x's type, shape and device
        return x, discount

    def with_stocks(self, observation: Any, stocks: Any) -> Any:
        """A batch of `len(stocks)` copies of one unbatched numpy `observation` carrying the
        unscaled `stocks` (discounted: `X = gamma^t C` at the observation's own `gamma^t`)."""
        stocks = np.asarray(stocks, dtype=np.float64).reshape(-1)
        k = stocks.shape[0]
        if self.key is not None:
            out = {key: np.repeat(np.asarray(v)[None], k, axis=0) for key, v in observation.items()}
            target, column = out[self.key], 0
        else:
            out = np.repeat(np.asarray(observation)[None], k, axis=0)
            target, column = out, self.index
        if self.discounted:
            stocks = stocks * target[:, column + 1].astype(np.float64)
        target[:, column] = stocks * self.scale
        return out

    def same_stock(self, observation: Any, other: Any) -> bool:
        """Whether two unbatched observations are equal apart from their stock (and `gamma^t`)."""
        if self.key is not None:
            return all(np.array_equal(observation[k], other[k]) for k in observation if k != self.key)
        a, b = np.asarray(observation), np.asarray(other)
        drop = list(range(self.index, self.index + self.size))
        return np.array_equal(np.delete(a, drop), np.delete(b, drop))

    def check_matches(self, other: StockLayout, what: str = "the env") -> None:
        """Raise `ValueError` naming the first setting in which `other` differs (the support
        may differ: it only describes how training stocks were drawn)."""
        for name in ("gamma", "scale", "representation", "key", "index"):
            mine, theirs = getattr(self, name), getattr(other, name)
            same = math.isclose(mine, theirs, rel_tol=1e-12) if isinstance(mine, float) else mine == theirs
            if not same:
                label = {"scale": "stock_scale", "key": "stock key", "index": "stock index"}.get(name, name)
                raise ValueError(f"{what} presents the stock differently from the model: {label}={theirs!r} "
                                 f"there, {label}={mine!r} for the model (StockAugmentation settings must "
                                 "match the training env's)")


class StockAugmentation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Add the stock `C_t` to the observation of any Gymnasium env.

    Args:
        env: any env (Box, Discrete, MultiDiscrete, Dict, Tuple... observations).
        gamma: discount in (0, 1] used by the stock recursion (use the agent's gamma).
        initial_stock: `c0`: a number, or a sampler `rng -> float` called at every reset with
            the wrapper's own generator, seeded by `reset(seed=...)` (so the inner env's
            randomness is untouched), e.g. [`UniformStock`][rdo_gym.stock.UniformStock],
            [`ChoiceStock`][rdo_gym.stock.ChoiceStock], or the string form of either (`"uniform-int:-8:8"`,
            `"choice:0,2,5"`: see [`make_initial_stock`][rdo_gym.stock.make_initial_stock]), as a YAML file gives it.
            `reset(options={"initial_stock": c})` overrides it for one episode.
        flatten: if True, return a flat Box `[obs..., scaled stock]` (Box observations only, ready
            for SB3's `MlpPolicy`). Otherwise a Dict: `{"observation": obs, "stock": (1,)}`,
            or, for a Dict env, the env's keys plus `"stock"`.
        stock_scale: the observation carries `stock_scale * C_t` (float32); `info` and
            [`stock`][rdo_gym.stock.StockAugmentation.stock] are unscaled. With `gamma < 1`, `C_t` grows like
            `gamma^-t`: in float32 it would overflow after `~88 / -ln(gamma)` steps without rewards (8800 for
            0.99), so the observed value saturates at the float32 range (with one warning) instead
            of becoming `inf`; the float64 `info` values stay exact. The `"discounted"` representation
            avoids this growth.
        representation: how the observation carries the stock ([`StockLayout`][rdo_gym.stock.StockLayout]):
            `"raw"`: one entry `stock_scale * C_t`; `"discounted"`: two entries, `stock_scale * X_t` with
            `X_t = gamma^t C_t = c0 + sum_{k<t} gamma^k R_{k+1}` (bounded when the rewards are), then
            `gamma^t` (in `(0, 1]`), so the network's stock input never drifts with the episode length.
            `None` (the default): `"raw"` for `gamma = 1`, where both carry the same `C_t = X_t`, and
            [`DEFAULT_DISCOUNTED_REPRESENTATION`][rdo_gym.stock.DEFAULT_DISCOUNTED_REPRESENTATION] for `gamma < 1`.
            Agents read `C_t` through the layout either way.

    `info` (on reset and step) carries `"stock"` (`C_t`), `"initial_stock"` (`c0`) and
    `"discounted_return"` (`sum_{k<t} gamma^k R_{k+1}`). Rewards pass through unchanged; a
    non-scalar, NaN or infinite reward raises `ValueError`. `stock_layout` describes the
    stock for agents ([`StockLayout`][rdo_gym.stock.StockLayout]).

    Examples:
        >>> import gymnasium as gym
        >>> env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.5, initial_stock=UniformStock(-2, 2),
        ...                         flatten=True)
        >>> obs, info = env.reset(seed=0, options={"initial_stock": 1.0})
        >>> obs.shape, float(obs[-1]), info["stock"]              # the stock is the last entry
        ((5,), 1.0, 1.0)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> info["stock"]                                         # C_1 = (C_0 + r) / gamma = (1 + 1) / 0.5
        4.0
        >>> env.stock_layout.index, env.stock_layout.support
        (4, StockRange(low=-2.0, high=2.0, integer=False))

        The discounted representation carries `X_t = gamma^t C_t` and `gamma^t` instead:

        >>> env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.5, flatten=True, representation="discounted")
        >>> obs, info = env.reset(seed=0, options={"initial_stock": 1.0})
        >>> obs, *_, info = env.step(0)
        >>> obs[-2:].tolist(), info["stock"], float(env.stock_layout.read(obs))   # X_1 = 1 + 1, gamma^1 = 0.5
        ([2.0, 0.5], 4.0, 4.0)
    """

    def __init__(self, env: gym.Env, gamma: float = 1.0, initial_stock: InitialStock = 0.0, *,
                 flatten: bool = False, stock_scale: float = 1.0, representation: str | None = None):
        self.gamma = check_gamma(gamma)
        if representation is None:
            representation = "raw" if self.gamma == 1.0 else DEFAULT_DISCOUNTED_REPRESENTATION
        self.representation = check_representation(representation)
        # The resolved representation is recorded, so that gym.make(env.spec) rebuilds this very layout.
        gym.utils.RecordConstructorArgs.__init__(
            self, gamma=gamma, initial_stock=initial_stock, flatten=flatten, stock_scale=stock_scale,
            representation=self.representation)
        gym.Wrapper.__init__(self, env)
        self._discounted = self.representation == "discounted"
        width = 2 if self._discounted else 1
        self.initial_stock = _check_initial_stock(initial_stock)
        self.stock_scale = _check_scale(stock_scale)
        self.flatten = bool(flatten)

        inner = env.observation_space
        # discounted: (scale * X_t, gamma^t), gamma^t in [0, 1] (0 once it underflows float32)
        stock_low, stock_high = [-np.inf, 0.0][:width], [np.inf, 1.0][:width]
        stock_space = spaces.Box(np.array(stock_low, dtype=np.float32), np.array(stock_high, dtype=np.float32),
                                 dtype=np.float32)
        if self.flatten:
            if not isinstance(inner, spaces.Box) or len(inner.shape) != 1:
                raise ValueError(
                    "StockAugmentation(flatten=True) needs a 1-D Box observation space, got "
                    f"{inner}; use flatten=False (Dict observation, SB3 'MultiInputPolicy') or "
                    "gymnasium.wrappers.FlattenObservation first")
            dtype = inner.dtype if np.issubdtype(inner.dtype, np.floating) else np.float32
            self._flat_dtype = np.dtype(dtype)
            self.observation_space = spaces.Box(
                np.append(inner.low, stock_low).astype(dtype), np.append(inner.high, stock_high).astype(dtype),
                dtype=dtype)
            self._dict_inner = False
        elif isinstance(inner, spaces.Dict):
            if STOCK_KEY in inner.spaces:
                raise ValueError(f"the env's Dict observation already has a {STOCK_KEY!r} key: "
                                 "is it stock-augmented twice?")
            self.observation_space = spaces.Dict({**inner.spaces, STOCK_KEY: stock_space})
            self._dict_inner = True
        else:
            self.observation_space = spaces.Dict({OBSERVATION_KEY: inner, STOCK_KEY: stock_space})
            self._dict_inner = False

        self._c0 = 0.0
        self._x = 0.0  # c0 + sum_{k<t} gamma^k R_{k+1}
        self._discount = 1.0  # gamma^t
        self._t = 0
        self._stock_rng: np.random.Generator | None = None
        self._saturation_warned = False
        self._rounding_warned = False
        self._stock_template = np.zeros(width, dtype=np.float32)  # copying it beats np.array([x], ...)
        flat_index = self.observation_space.shape[0] - width if self.flatten else None
        self.stock_layout = StockLayout(self.gamma, self.stock_scale, None if self.flatten else STOCK_KEY,
                                        flat_index, _support(self.initial_stock), self.representation)

    # -- settings that an agent may adjust (e.g. DEtaN's stock_range="auto") -------------------------
    def set_initial_stock(self, initial_stock: InitialStock) -> StockLayout:
        """Draw `c0` from `initial_stock` (a number, a sampler or its string form) from the next reset on.

        The layout's `support` follows. With a VecEnv, `venv.env_method("set_initial_stock", sampler)`
        reaches every sub-env, in subprocesses too. `gym.make(env.spec)` still rebuilds the
        constructor's sampler.

        Returns:
            The new [`StockLayout`][rdo_gym.stock.StockLayout].

        Examples:
            >>> import gymnasium as gym
            >>> env = StockAugmentation(gym.make("CartPole-v1"), initial_stock=0.0)
            >>> env.set_initial_stock("uniform:-50:-10").support
            StockRange(low=-50.0, high=-10.0, integer=False)
            >>> -50 <= env.reset(seed=0)[1]["initial_stock"] <= -10
            True
        """
        self.initial_stock = _check_initial_stock(initial_stock)
        self.stock_layout = replace(self.stock_layout, support=_support(self.initial_stock))
        return self.stock_layout

    def set_stock_scale(self, stock_scale: float) -> StockLayout:
        """Put `stock_scale * C_t` (or `stock_scale * X_t`) in the observations from the next one on.

        Only for use before an agent has learned from this env's observations: a network trained at
        one scale reads another as other stocks. Returns the new
        [`StockLayout`][rdo_gym.stock.StockLayout]; `VecEnv.env_method("set_stock_scale", s)`
        reaches every sub-env.
        """
        self.stock_scale = _check_scale(stock_scale)
        self.stock_layout = replace(self.stock_layout, scale=self.stock_scale)
        return self.stock_layout

    # -- state ------------------------------------------------------------------------------------
    @property
    def stock(self) -> float:
        """The current unscaled stock `C_t = X_t / gamma^t` (`+-inf` once `gamma^t` underflows)."""
        return _divide(self._x, self._discount)

    @property
    def episode_initial_stock(self) -> float:
        """`c0` of the current episode."""
        return self._c0

    @property
    def discounted_return(self) -> float:
        """`sum_{k<t} gamma^k R_{k+1}` so far in this episode."""
        return self._x - self._c0

    @property
    def stock_times_discount(self) -> float:
        """`gamma^t C_t = c0 + discounted return so far` (stable for gamma < 1)."""
        return self._x

    # -- gymnasium API ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None or self._stock_rng is None:
            # Our own generator, so that sampling c0 never perturbs the inner env's randomness.
            self._stock_rng = np.random.default_rng(None if seed is None else [seed, 0x570C])
        if options is not None and "initial_stock" in options:
            c0 = _check_stock(options["initial_stock"], "reset(options={'initial_stock': ...})")
        elif type(self.initial_stock) in _OWN_SAMPLERS:  # always finite floats: skip the check
            c0 = self.initial_stock(self._stock_rng)
        elif callable(self.initial_stock):
            c0 = _check_stock(self.initial_stock(self._stock_rng), f"sampler {self.initial_stock!r}")
        else:
            c0 = self.initial_stock
        self._c0 = self._x = c0
        self._discount = 1.0
        self._t = 0
        info["stock"] = info["initial_stock"] = c0  # C_0 = c0
        info["discounted_return"] = 0.0
        return self._augment(obs, c0, c0), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        # Hot path: plain python numbers skip the generic (slow) numpy checks.
        r = float(reward) if type(reward) in _REAL_SCALAR_TYPES else self._check_reward(reward)
        if not _isfinite(r):
            self._check_reward(r)  # raises, naming the step
        x = self._x = self._x + self._discount * r
        if not _isfinite(x):
            raise OverflowError(f"StockAugmentation: at step {self._t + 1} the running total c0 + sum_k "
                                f"gamma^k r_k left the float64 range (reward {r:.3g}); rescale the rewards")
        discount = self._discount = self._discount * self.gamma
        self._t += 1
        try:
            stock = x / discount
        except ZeroDivisionError:  # gamma^t underflowed to 0 (at 0.99 it stalls at 2.4e-322 instead)
            stock = _divide(x, discount)
        info["stock"] = stock
        info["initial_stock"] = c0 = self._c0
        info["discounted_return"] = x - c0
        return self._augment(obs, stock, x), reward, terminated, truncated, info

    # -- helpers ----------------------------------------------------------------------------------
    def _check_reward(self, reward: SupportsFloat) -> float:
        step = self._t + 1
        if np.ndim(reward) != 0:
            raise ValueError(f"StockAugmentation: step {step} returned a non-scalar reward "
                             f"of shape {np.shape(reward)}; rewards must be scalar numbers")
        if isinstance(reward, (str, bytes)) or np.iscomplexobj(reward):
            raise ValueError(f"StockAugmentation: step {step} returned reward={reward!r} of type "
                             f"{type(reward).__name__}; rewards must be real numbers")
        try:
            r = float(reward)
        except (TypeError, ValueError):
            raise ValueError(f"StockAugmentation: step {step} returned reward={reward!r} of type "
                             f"{type(reward).__name__}; rewards must be real numbers") from None
        if not math.isfinite(r):
            raise ValueError(f"StockAugmentation: step {step} returned reward={r}; rewards "
                             "must be finite")
        return r

    def _augment(self, obs: Any, stock: float, x: float) -> Any:
        scaled = self.stock_scale * (x if self._discounted else stock)
        if not -_FLOAT32_EXACT <= scaled <= _FLOAT32_EXACT:
            scaled = self._large(scaled)
        if self.flatten:
            if self._discounted:
                out = np.empty(obs.shape[0] + 2, dtype=self._flat_dtype)
                out[:-2] = obs
                out[-2] = scaled
                out[-1] = self._discount
                return out
            out = np.empty(obs.shape[0] + 1, dtype=self._flat_dtype)
            out[:-1] = obs
            out[-1] = scaled
            return out
        stock_array = self._stock_template.copy()  # a new array each step (agents keep references)
        stock_array[0] = scaled
        if self._discounted:
            stock_array[1] = self._discount
        if self._dict_inner:
            return {**obs, STOCK_KEY: stock_array}
        return {OBSERVATION_KEY: obs, STOCK_KEY: stock_array}

    def _large(self, scaled: float) -> float:
        if -_FLOAT32_MAX <= scaled <= _FLOAT32_MAX:
            if not self._rounding_warned:
                self._rounding_warned = True
                gym.logger.warn(
                    f"StockAugmentation: the scaled stock {scaled:.9g} at step {self._t} exceeds 2^24, so the "
                    "float32 observation rounds it (to a multiple of 2 or more); use a smaller stock_scale. "
                    "info['stock'] is exact.")
            return scaled
        if not self._saturation_warned:
            self._saturation_warned = True
            gym.logger.warn(
                f"StockAugmentation: the scaled stock {scaled:.3g} at step {self._t} exceeds the "
                f"float32 range of the observation and is clipped to +-{_FLOAT32_MAX:.3g} (gamma="
                f"{self.gamma}); use a smaller stock_scale or shorter episodes. info['stock'] is exact.")
        return math.copysign(_FLOAT32_MAX, scaled)

    def stock_from_observation(self, observation: Any) -> np.ndarray:
        """Unscaled stock(s) read from (a batch of) this wrapper's observations, in float64."""
        if self.flatten:
            observation = np.asarray(observation, dtype=np.float64)
        else:
            observation = {STOCK_KEY: np.asarray(observation[STOCK_KEY], dtype=np.float64)}
        return self.stock_layout.read(observation)


def _divide(x: float, discount: float) -> float:
    """`x / discount`, with `discount == 0` (underflow of `gamma^t`) giving `+-inf` or 0."""
    if discount > 0.0:
        return x / discount
    return math.copysign(math.inf, x) if x != 0.0 else 0.0


def find_stock_wrapper(env: gym.Env) -> StockAugmentation | None:
    """The [`StockAugmentation`][rdo_gym.stock.StockAugmentation] in `env`'s wrapper chain, or `None`."""
    current = env
    while current is not None:
        if isinstance(current, StockAugmentation):
            return current
        current = getattr(current, "env", None)
    return None
