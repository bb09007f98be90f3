"""The quantile Huber loss of QR-DQN / TQC, exact in `O((N + M) log M)` time and `O(N + M)` memory.

sb3-contrib's `sb3_contrib.common.utils.quantile_huber_loss` builds every pairwise difference
between the `N` current quantiles and the `M` target atoms of a sample: a `batch x N x M`
tensor, which at a few hundred quantiles costs far more than the network.
[`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss] here computes the same value and the same gradient without
it: the target atoms of each sample are sorted once, with prefix sums of `y` and `y**2`; for each current quantile
`theta_i` a binary search finds the atoms below `theta_i - kappa`, between `theta_i - kappa` and `theta_i`, between
`theta_i` and `theta_i + kappa`, and above `theta_i + kappa`. Each of these four regions has a
closed-form sum of the loss and of its derivative, so the forward pass also yields the gradient
(a hand-written backward of a `torch.autograd.Function`). For small problems the pairwise
computation is faster; it is provided too, as one fused pass that also yields the gradient, and
`method="auto"` picks between the two.

[`FastQRDQN`][rdo_sb3.losses.FastQRDQN] and [`FastTQC`][rdo_sb3.losses.FastTQC] are sb3-contrib's `QRDQN` and `TQC`
with their loss routed through this one.
"""

from __future__ import annotations

import dis
import functools
import math
import types
from collections.abc import Callable
from typing import Any, ClassVar

import torch as th
from sb3_contrib import QRDQN, TQC
from sb3_contrib.qrdqn import qrdqn as _qrdqn_module
from sb3_contrib.tqc import tqc as _tqc_module

__all__ = ["quantile_huber_loss", "LOSS_METHODS", "AUTO_CROSSOVER", "FastQRDQN", "FastTQC", "check_kappa",
           "check_method"]

LOSS_METHODS = ("auto", "pairwise", "sorted")
"""The accepted values of `method`."""

AUTO_CROSSOVER = 150_000
"""`method="auto"` uses the pairwise loss while the number of pairs `batch * n_critics * N * M` is at most
this, the sorted one above it. Measured on one CPU thread, forward + backward, against this module's
pairwise loss (a fused forward that also yields the gradient): the two break even between about 130,000
pairs (batch 32, N = M = 64) and 200,000 (batch 32, N = M = 80); at 83,000 (batch 32, N = M = 51)
pairwise is 10% faster, at 262,000 (batch 256, N = M = 32) sorted is 40% faster. Not measured on GPUs,
where the same figure is used.
"""


def check_kappa(kappa: Any, name: str = "kappa") -> float:
    """`kappa` as a float; a ValueError naming `name` unless it is a finite number `>= 0`."""
    try:
        value = float(kappa)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(kappa, bool) or not (0.0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0 (the Huber threshold; 0: the pure quantile "
                         f"loss), got {kappa!r}")
    return value


def check_method(method: Any, name: str = "method") -> str:
    """`method` itself; a ValueError naming `name` unless it is one of `LOSS_METHODS`."""
    if not isinstance(method, str) or method not in LOSS_METHODS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, LOSS_METHODS))}, got {method!r}")
    return method


def _check_inputs(current: th.Tensor, target: th.Tensor, cum_prob: th.Tensor | None) -> th.Tensor:
    """Validate the shapes; return `cum_prob` broadcast to `current`'s shape (or built)."""
    if not isinstance(current, th.Tensor) or not isinstance(target, th.Tensor):
        raise ValueError(f"current_quantiles and target_quantiles must be torch tensors, got "
                         f"{type(current).__name__} and {type(target).__name__}")
    if current.ndim not in (2, 3):
        raise ValueError(f"current_quantiles must be (batch, n_quantiles) or (batch, n_critics, n_quantiles), "
                         f"got shape {tuple(current.shape)}")
    if target.ndim != current.ndim:
        accepted = "(batch, n_target_quantiles)" if current.ndim == 2 else \
            "(batch, 1, n_target_quantiles) or (batch, n_critics, n_target_quantiles)"
        raise ValueError(f"target_quantiles must have as many dimensions as current_quantiles "
                         f"{tuple(current.shape)}, i.e. be {accepted}; got shape {tuple(target.shape)}")
    if target.shape[0] != current.shape[0] or (current.ndim == 3 and target.shape[1] not in (1, current.shape[1])):
        accepted = f"({current.shape[0]}, n_target_quantiles)" if current.ndim == 2 else \
            f"({current.shape[0]}, 1, n_target_quantiles) or ({current.shape[0]}, {current.shape[1]}, " \
            "n_target_quantiles)"
        raise ValueError(f"target_quantiles has shape {tuple(target.shape)}, which does not match "
                         f"current_quantiles {tuple(current.shape)}: expected {accepted}")
    if current.shape[-1] == 0 or target.shape[-1] == 0 or current.shape[0] == 0:
        raise ValueError(f"empty quantiles: current_quantiles {tuple(current.shape)}, "
                         f"target_quantiles {tuple(target.shape)}")
    if not current.is_floating_point() or target.dtype != current.dtype:
        raise ValueError(f"current_quantiles and target_quantiles must be floating-point tensors of one dtype, "
                         f"got {current.dtype} and {target.dtype}")
    if target.requires_grad:
        raise ValueError("target_quantiles requires grad, but this loss treats the targets as constants "
                         "(sb3-contrib's QR-DQN and TQC compute them under torch.no_grad()); pass "
                         "target_quantiles.detach()")
    if cum_prob is None:
        n = current.shape[-1]
        return th.broadcast_to((th.arange(n, device=current.device, dtype=current.dtype) + 0.5) / n, current.shape)
    if not isinstance(cum_prob, th.Tensor):
        raise ValueError(f"cum_prob must be a torch tensor or None, got {type(cum_prob).__name__}")
    if cum_prob.requires_grad:
        raise ValueError("cum_prob requires grad, but this loss treats the quantile levels as constants; "
                         "pass cum_prob.detach()")
    shape = tuple(cum_prob.shape)
    if cum_prob.ndim == current.ndim + 1 and shape[-1] == 1:  # sb3-contrib's (..., n_quantiles, 1)
        cum_prob = cum_prob.squeeze(-1)
    try:
        return th.broadcast_to(cum_prob.to(current.dtype), current.shape)
    except RuntimeError:
        raise ValueError(f"cum_prob (the quantile levels of current_quantiles) must broadcast to "
                         f"current_quantiles' shape {tuple(current.shape)} (or be that shape with a trailing "
                         f"1, as sb3-contrib broadcasts it), got shape {shape}") from None


class _PairwiseQuantileHuber(th.autograd.Function):
    """Sum over all pairs of `|tau_i - 1{u < 0}| * huber_kappa(u) / kappa`, `u = y_j - theta_i`, times
    `scale`, in the inputs' dtype; the forward pass also computes the gradient for `current`."""

    @staticmethod
    def forward(ctx: Any, current: th.Tensor, target: th.Tensor, tau: th.Tensor, kappa: float,
                scale: float) -> th.Tensor:
        delta = target.unsqueeze(-2) - current.detach().unsqueeze(-1)  # (..., N, M)
        tau = tau.unsqueeze(-1)
        weight = th.where(delta < 0, (tau - 1.0).abs(), tau.abs())  # sb3-contrib's |tau - 1{u < 0}|
        if kappa == 0.0:
            slope = delta.sign()  # d|u|/du, 0 at u = 0
            huber = delta.abs_()
        else:
            # z = u / kappa clamped to [-1, 1] is huber's derivative; huber = z * (u - kappa z / 2), i.e.
            # u^2 / (2 kappa) inside, |u| - kappa / 2 outside; finite for any kappa > 0, even subnormal
            slope = (delta / kappa).clamp_(-1.0, 1.0)
            huber = delta.sub_(slope * (0.5 * kappa)).mul_(slope)
        loss = (weight * huber).sum() * scale
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward((weight * slope).sum(dim=-1).mul_(-scale))
        return loss

    @staticmethod
    @th.autograd.function.once_differentiable
    def backward(ctx: Any, grad_output: th.Tensor) -> tuple[th.Tensor | None, None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None, None, None


@functools.lru_cache(maxsize=64)
def _offsets(kappa: float, dtype: th.dtype, device: th.device) -> th.Tensor:
    return th.tensor([-kappa, 0.0, kappa], dtype=dtype, device=device).view(3, 1)


def _sorted_sums(theta: th.Tensor, y: th.Tensor, tau: th.Tensor, kappa: float,
                 need_grad: bool) -> tuple[th.Tensor, th.Tensor | None]:
    """Per-quantile loss sums and derivatives, `theta, tau: (R, K)`, `y: (R, M)`, float64 or wider.

    Returns `(loss (R, K), d loss / d theta (R, K) or None)`: each summed over the `M` atoms.
    """
    m = y.shape[-1]
    y = th.sort(y, dim=-1).values
    if not bool(th.isfinite(y[:, ::max(m - 1, 1)]).all()):  # sorted: a NaN or an infinity is at an end
        raise ValueError("target_quantiles contains NaN or infinite values")
    centre = y[:, m // 2 : m // 2 + 1]  # centred prefix sums: no cancellation for large returns
    y = y - centre
    theta = theta - centre
    if kappa == 0.0:  # the pure quantile loss: atoms below theta and above it (ties contribute 0)
        prefix = th.nn.functional.pad(y.cumsum(-1), (1, 0))
        lo, hi = th.searchsorted(y, theta, side="left"), th.searchsorted(y, theta, side="right")
        n_lo, n_hi = lo.to(y.dtype), m - hi.to(y.dtype)
        below = n_lo * theta - prefix.gather(-1, lo)  # sum of theta - y below
        above = prefix[:, -1:] - prefix.gather(-1, hi) - n_hi * theta  # sum of y - theta above
        loss = below + tau * (above - below)
        grad = n_lo + tau * (-n_hi - n_lo) if need_grad else None
        return loss, grad
    # One search for theta - kappa, theta, theta + kappa. Which side an atom exactly at theta +- kappa
    # falls on does not matter: the loss and its derivative are continuous there (and both are 0 at u = 0).
    offsets = _offsets(kappa, y.dtype, y.device)
    rows, k = theta.shape
    idx = th.searchsorted(y, (theta.unsqueeze(-2) + offsets).view(rows, 3 * k))
    prefix = th.nn.functional.pad(th.stack([y, y * y]).cumsum(-1), (1, 0))  # (2, R, M + 1): sums of y, y^2
    sums = prefix.gather(-1, idx.expand(2, rows, 3 * k)).view(2, rows, 3, k)
    n = idx.view(rows, 3, k).to(y.dtype)
    theta = theta.unsqueeze(-2)
    lin = sums[0] - n * theta  # L_x = sum_{j < x} (y_j - theta), at x = a, b, d
    quad = sums[1] - theta * (sums[0] + lin)  # F_x = sum_{j < x} (y_j - theta)^2
    (n_a, _, n_d), (l_a, l_b, l_d), (f_a, f_b, f_d) = n.unbind(1), lin.unbind(1), quad.unbind(1)
    l_all = prefix[0, :, -1:] - m * theta.squeeze(-2)
    # regions: 1 = [0, a): y < theta - kappa, 2 = [a, b): below theta, 3 = [b, d): above, 4 = [d, m)
    n_4 = m - n_d
    below = (f_b - f_a) / (2.0 * kappa) - l_a - (0.5 * kappa) * n_a  # regions 1 and 2, weight 1 - tau
    above = (f_d - f_b) / (2.0 * kappa) + (l_all - l_d) - (0.5 * kappa) * n_4  # regions 3 and 4, weight tau
    loss = below + tau * (above - below)
    grad = None
    if need_grad:  # d/d theta of the weighted sums above
        d_below = n_a - (l_b - l_a) / kappa
        d_above = -(l_d - l_b) / kappa - n_4
        grad = d_below + tau * (d_above - d_below)
    return loss, grad


class _SortedQuantileHuber(th.autograd.Function):
    """Sum of the pairwise quantile Huber loss times `scale`; gradient for `current` only."""

    @staticmethod
    def forward(ctx: Any, current: th.Tensor, target: th.Tensor, tau: th.Tensor, kappa: float,
                scale: float) -> th.Tensor:
        dtype = th.promote_types(current.dtype, th.float64)
        batch = current.shape[0]
        if current.ndim == 3 and target.shape[1] == 1:  # TQC: one target row for all critics of a sample
            rows = batch
        else:  # (batch, N) vs (batch, M), or (batch, C, N) vs (batch, C, M)
            rows = target.numel() // target.shape[-1]
        theta = current.detach().reshape(rows, -1).to(dtype)
        y = target.reshape(rows, -1).to(dtype)
        levels = tau.reshape(rows, -1).to(dtype)
        loss, grad = _sorted_sums(theta, y, levels, kappa, ctx.needs_input_grad[0])
        if grad is not None:
            ctx.save_for_backward((grad * scale).to(current.dtype).reshape(current.shape))
        return (loss.sum() * scale).to(current.dtype)

    @staticmethod
    @th.autograd.function.once_differentiable
    def backward(ctx: Any, grad_output: th.Tensor) -> tuple[th.Tensor | None, None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None, None, None


def quantile_huber_loss(
    current_quantiles: th.Tensor,
    target_quantiles: th.Tensor,
    cum_prob: th.Tensor | None = None,
    sum_over_quantiles: bool = True,
    *,
    kappa: float = 1.0,
    method: str = "auto",
) -> th.Tensor:
    """The quantile Huber loss of QR-DQN and TQC: a drop-in for sb3-contrib's `quantile_huber_loss`.

    The loss of a current quantile `theta_i` (level `tau_i`) against a target atom `y_j` is
    `|tau_i - 1{u < 0}| * huber_kappa(u) / kappa` with `u = y_j - theta_i` and
    `huber_kappa(u) = u**2 / 2` for `|u| <= kappa`, `kappa * (|u| - kappa / 2)` beyond (the
    QR-DQN paper's definition); at the default `kappa=1` this is sb3-contrib's loss, value and
    gradient; `kappa=0` is the pure quantile loss `|tau_i - 1{u < 0}| * |u|`. With
    `sum_over_quantiles` the pair losses are summed over the current quantiles and averaged over the
    rest (batch, critics, target atoms), as QR-DQN does; without, averaged over everything, as TQC does.

    Only `current_quantiles` gets a gradient: the targets and `cum_prob` are constants (a ValueError
    if they require grad; sb3-contrib's QR-DQN and TQC compute the targets under `torch.no_grad()`).
    The `"sorted"` method computes in float64 (wider if the inputs are) on values centred per sample
    and casts the loss and the gradient back to the inputs' dtype, so with float32 inputs and large
    returns it matches a float64 computation on the same values to float32 rounding (the pairwise
    method, like sb3-contrib's, computes in the inputs' dtype). Its gradient carries a relative rounding error of about
    `1e-16 * (spread of the targets) / kappa` (differences of prefix sums divided by `kappa`): for a
    `kappa` below about `1e-8` times the spread of the returns use `kappa=0` or
    `method="pairwise"`. Neither method supports double backward.

    Args:
        current_quantiles: `(batch, n_quantiles)` (QR-DQN) or `(batch, n_critics, n_quantiles)` (TQC).
        target_quantiles: `(batch, n_target_quantiles)`, or for 3-D currents
            `(batch, 1, n_target_quantiles)` (shared by the critics, as TQC passes them) or
            `(batch, n_critics, n_target_quantiles)`. Must be finite and not require grad.
        cum_prob: the quantile levels `tau_i` of the current quantiles: broadcastable to
            `current_quantiles`' shape (e.g. `(n_quantiles,)` or `(batch, n_quantiles)`), or that
            shape with a trailing 1 as sb3-contrib broadcasts it; `None`: the midpoints
            `(i + 0.5) / n_quantiles`.
        sum_over_quantiles: sum over the current quantiles (QR-DQN) instead of averaging (TQC).
        kappa: the Huber threshold, `>= 0`; `0` gives the pure quantile loss.
        method: `"pairwise"` (sb3-contrib's `batch x N x M` computation, generalized to any
            `kappa`, its forward pass also computing the gradient), `"sorted"` (`O((N + M) log M)`
            time and `O(N + M)` memory per sample)
            or `"auto"`: pairwise while the number of pairs `batch * n_critics * N * M` is at most
            `AUTO_CROSSOVER` (small problems, where it is the faster one), sorted above.

    Returns:
        The scalar loss, in `current_quantiles`' dtype.

    Example:

        import torch as th
        from rdo_sb3.losses import quantile_huber_loss

        current = th.randn(32, 200, requires_grad=True)
        target = th.randn(32, 200)
        loss = quantile_huber_loss(current, target)  # = sb3-contrib's, without the 32 x 200 x 200 tensor
        loss.backward()
    """
    kappa = check_kappa(kappa)
    method = check_method(method)
    tau = _check_inputs(current_quantiles, target_quantiles, cum_prob)
    n, m = current_quantiles.shape[-1], target_quantiles.shape[-1]
    n_pairs = current_quantiles.numel() * m
    scale = (1.0 / (n_pairs // n)) if sum_over_quantiles else (1.0 / n_pairs)
    if method == "pairwise" or (method == "auto" and n_pairs <= AUTO_CROSSOVER):
        if not bool(th.isfinite(target_quantiles).all()):  # (the sorted loss checks after sorting)
            raise ValueError("target_quantiles contains NaN or infinite values")
        return _PairwiseQuantileHuber.apply(current_quantiles, target_quantiles, tau, kappa, scale)
    return _SortedQuantileHuber.apply(current_quantiles, target_quantiles, tau, kappa, scale)


# -- sb3-contrib's agents with this loss ---------------------------------------------------------------

@functools.cache
def _train_with_loss(train: types.FunctionType, module: types.ModuleType, kappa: float,
                     method: str) -> types.FunctionType:
    """`train` (a method of an sb3-contrib class) run with this module's loss in place of sb3-contrib's.

    The code object is sb3-contrib's own; only the globals it resolves `quantile_huber_loss` from are
    a copy of its module's namespace with that one name replaced (taken at first use, so later patches
    of that module are not seen). Nothing is patched: sb3-contrib's classes and modules, and other
    models, keep their loss.
    """
    if not any(ins.opname == "LOAD_GLOBAL" and ins.argval == "quantile_huber_loss"
               for ins in dis.get_instructions(train)):  # a future sb3-contrib computing it otherwise
        raise RuntimeError(f"{train.__qualname__} no longer calls quantile_huber_loss by its global name; "
                           "the rdo_sb3.losses Fast* classes do not support this sb3-contrib version")
    namespace = dict(vars(module))
    namespace["quantile_huber_loss"] = functools.partial(quantile_huber_loss, kappa=kappa, method=method)
    rebound = types.FunctionType(train.__code__, namespace, train.__name__, train.__defaults__, train.__closure__)
    rebound.__kwdefaults__ = train.__kwdefaults__
    rebound.__qualname__ = train.__qualname__
    return rebound


class _FastLossMixin:
    """Route the parent's `train` through [`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss] (`loss_kappa`,
    `loss_method`)."""

    _sb3_train: ClassVar[Callable[..., None]]  # the sb3-contrib class's own train
    _sb3_module: ClassVar[types.ModuleType]  # the module it is defined in

    def __init__(self, *args: Any, loss_kappa: float = 1.0, loss_method: str = "auto", **kwargs: Any):
        self.loss_kappa = check_kappa(loss_kappa, "loss_kappa")
        self.loss_method = check_method(loss_method, "loss_method")
        super().__init__(*args, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        cls = type(self)
        train = _train_with_loss(cls._sb3_train, cls._sb3_module, self.loss_kappa, self.loss_method)
        train(self, gradient_steps, batch_size)


class FastQRDQN(_FastLossMixin, QRDQN):
    """sb3-contrib's `QRDQN` with its loss computed by [`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss]
    (default: the same value and gradient, without the `batch x N x N` tensor).

    All of `QRDQN`'s arguments are accepted unchanged; the training loop is sb3-contrib's own
    `QRDQN.train`, run with its reference to `quantile_huber_loss` resolved to this module's function
    (nothing in sb3-contrib is modified; other models keep sb3-contrib's loss).

    Args:
        loss_kappa: the Huber threshold of the loss (keyword-only; `1.0` = sb3-contrib's loss).
        loss_method: `"auto"`, `"sorted"` or `"pairwise"`, see
            [`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].

    Example:

        from rdo_sb3.losses import FastQRDQN

        model = FastQRDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(n_quantiles=200))
        model.learn(10_000)
    """

    _sb3_train = QRDQN.train
    _sb3_module = _qrdqn_module


class FastTQC(_FastLossMixin, TQC):
    """sb3-contrib's `TQC` with its critic loss computed by
    [`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss] (default: the same value and gradient, without the
    `batch x n_critics x N x M` tensor).

    All of `TQC`'s arguments are accepted unchanged; the training loop is sb3-contrib's own
    `TQC.train`, run with its reference to `quantile_huber_loss` resolved to this module's function
    (nothing in sb3-contrib is modified; other models keep sb3-contrib's loss).

    Args:
        loss_kappa: the Huber threshold of the loss (keyword-only; `1.0` = sb3-contrib's loss).
        loss_method: `"auto"`, `"sorted"` or `"pairwise"`, see
            [`quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].
    """

    _sb3_train = TQC.train
    _sb3_module = _tqc_module
