"""rdo_sb3.losses: the sorted O((N + M) log M) quantile Huber loss against sb3-contrib's pairwise one
(values and gradients, float64), its errors, float32 accuracy for large returns, DηN's use of it and
the FastQRDQN / FastTQC subclasses."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import sb3_contrib.common.utils as sb3_utils
import sb3_contrib.qrdqn.qrdqn as sb3_qrdqn_module
import sb3_contrib.tqc.tqc as sb3_tqc_module
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from sb3_contrib import QRDQN, TQC

import rdo_sb3.losses as losses
from rdo_envs import make_stock_env
from rdo_sb3 import DEtaN, FastQRDQN, FastTQC, quantile_huber_loss

KAPPAS = (0.0, 0.1, 1.0, 5.0)
METHODS = ("pairwise", "sorted")


def sb3_loss(current, target, cum_prob=None, sum_over_quantiles=True, kappa=1.0):
    """sb3-contrib's loss, generalized to any kappa > 0 by scaling (``kappa * L_1(x / kappa)`` is the loss
    with threshold ``kappa``), and for kappa = 0 the pure quantile loss written out pairwise."""
    n = current.shape[-1]
    if cum_prob is None:  # sb3-contrib's midpoints, in the inputs' dtype (it makes them float32)
        cum_prob = (th.arange(n, dtype=current.dtype) + 0.5) / n
    cum_prob = th.broadcast_to(cum_prob, current.shape).unsqueeze(-1)  # the (..., N, 1) sb3-contrib expects
    if kappa > 0:
        return kappa * sb3_utils.quantile_huber_loss(current / kappa, target / kappa, cum_prob, sum_over_quantiles)
    delta = target.unsqueeze(-2) - current.unsqueeze(-1)
    loss = th.abs(cum_prob - (delta.detach() < 0).to(delta.dtype)) * delta.abs()
    return loss.sum(dim=-2).mean() if sum_over_quantiles else loss.mean()


def value_and_grad(fn, current, *args, **kwargs):
    current = current.detach().clone().requires_grad_(True)
    loss = fn(current, *args, **kwargs)
    (grad,) = th.autograd.grad(loss, current)
    return loss.detach(), grad


def assert_same(current, target, cum_prob=None, sum_over_quantiles=True, kappa=1.0, methods=METHODS, rtol=1e-6):
    ref_value, ref_grad = value_and_grad(sb3_loss, current, target, cum_prob, sum_over_quantiles, kappa)
    for method in methods:
        value, grad = value_and_grad(quantile_huber_loss, current, target, cum_prob, sum_over_quantiles,
                                     kappa=kappa, method=method)
        assert value.dtype == current.dtype and grad.shape == current.shape
        th.testing.assert_close(value, ref_value, rtol=rtol, atol=1e-12, msg=f"value, {method}")
        atol = rtol * max(float(ref_grad.abs().max()), 1e-12)
        th.testing.assert_close(grad, ref_grad, rtol=rtol, atol=atol, msg=f"gradient, {method}")


SHAPES = [((7, 13), (7, 17)), ((7, 1), (7, 1)), ((5, 3, 11), (5, 1, 19)), ((5, 3, 11), (5, 3, 8))]


def random_levels(shape, gen):
    """Sorted random quantile levels in (0, 1) along the last axis."""
    return th.sort(th.rand(shape, generator=gen, dtype=th.float64), dim=-1).values


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("sum_over_quantiles", [True, False])
@pytest.mark.parametrize("with_cum_prob", [False, True])
@pytest.mark.parametrize("shapes", SHAPES)
def test_random_inputs_match_sb3_contrib(shapes, with_cum_prob, sum_over_quantiles, kappa):
    gen = th.Generator().manual_seed(0)
    current = 3.0 * th.randn(shapes[0], generator=gen, dtype=th.float64)
    target = 3.0 * th.randn(shapes[1], generator=gen, dtype=th.float64)
    cum_prob = random_levels(shapes[0], gen) if with_cum_prob else None
    assert_same(current, target, cum_prob, sum_over_quantiles, kappa)


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("shapes", SHAPES)
def test_ties_match_sb3_contrib(shapes, kappa):
    """Integer atoms (many equal values), targets equal to the currents and distances of exactly kappa."""
    gen = th.Generator().manual_seed(1)
    step = kappa if kappa > 0 else 1.0
    current = step * th.randint(-3, 4, shapes[0], generator=gen).to(th.float64)
    target = step * th.randint(-3, 4, shapes[1], generator=gen).to(th.float64)
    assert_same(current, target, kappa=kappa)
    # targets equal to the currents (same atoms)
    same = current if current.ndim == 2 else current[:, :1]
    assert_same(same.expand_as(same).clone(), same.clone(), kappa=kappa)
    # every distance exactly 0 or +-kappa
    if kappa > 0:
        base = th.zeros(shapes[0], dtype=th.float64)
        tgt = kappa * th.randint(-1, 2, shapes[1], generator=gen).to(th.float64)
        assert_same(base, tgt, kappa=kappa)


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("shapes", SHAPES)
def test_large_magnitude_matches_sb3_contrib(shapes, kappa):
    gen = th.Generator().manual_seed(2)
    offset = 1e4
    current = offset + 20.0 * th.randn(shapes[0], generator=gen, dtype=th.float64)
    target = offset + 20.0 * th.randn(shapes[1], generator=gen, dtype=th.float64)
    assert_same(current, target, kappa=kappa)


@pytest.mark.parametrize("sum_over_quantiles", [True, False])
def test_auto_matches_both_sides_of_the_crossover(sum_over_quantiles):
    gen = th.Generator().manual_seed(3)
    for batch, n in [(4, 8), (64, 64)]:  # below and above AUTO_CROSSOVER (150,000 pairs)
        current = th.randn(batch, n, generator=gen, dtype=th.float64)
        target = th.randn(batch, n, generator=gen, dtype=th.float64)
        assert_same(current, target, sum_over_quantiles=sum_over_quantiles, methods=("auto",))


def test_auto_picks_pairwise_for_small_problems_and_sorted_for_large(monkeypatch):
    calls = []
    real = losses._SortedQuantileHuber.apply
    monkeypatch.setattr(losses._SortedQuantileHuber, "apply", lambda *a: calls.append(1) or real(*a))
    quantile_huber_loss(th.randn(32, 10), th.randn(32, 10))  # 3,200 pairs
    quantile_huber_loss(th.randn(32, 51), th.randn(32, 51))  # 83,232 pairs
    assert calls == []
    quantile_huber_loss(th.randn(32, 200), th.randn(32, 200))  # 1,280,000 pairs
    assert calls == [1]


def test_cum_prob_shapes_agree():
    gen = th.Generator().manual_seed(4)
    current = th.randn(6, 9, generator=gen, dtype=th.float64)
    target = th.randn(6, 5, generator=gen, dtype=th.float64)
    levels = random_levels((6, 9), gen)
    for method in METHODS:
        full = quantile_huber_loss(current, target, levels, method=method)
        assert th.allclose(quantile_huber_loss(current, target, levels.unsqueeze(-1), method=method), full)
        shared = quantile_huber_loss(current, target, levels[0], method=method)
        assert th.allclose(shared, quantile_huber_loss(current, target, levels[:1].expand(6, 9), method=method))
        assert not th.allclose(shared, full)
    default = (th.arange(9, dtype=th.float64) + 0.5) / 9
    assert th.allclose(quantile_huber_loss(current, target, default), quantile_huber_loss(current, target))


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 4), critics=st.integers(0, 3), n=st.integers(1, 12), m=st.integers(1, 12),
       shared_target=st.booleans(), integer_atoms=st.booleans(), kappa=st.sampled_from([0.0, 0.1, 0.5, 1.0, 5.0]),
       sum_over_quantiles=st.booleans(), with_cum_prob=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_property_sorted_equals_pairwise(batch, critics, n, m, shared_target, integer_atoms, kappa,
                                         sum_over_quantiles, with_cum_prob, seed):
    gen = th.Generator().manual_seed(seed)
    cur_shape = (batch, n) if critics == 0 else (batch, critics, n)
    tgt_shape = (batch, m) if critics == 0 else (batch, 1 if shared_target else critics, m)
    if integer_atoms:
        scale = kappa if kappa > 0 else 1.0
        current = scale * th.randint(-4, 5, cur_shape, generator=gen).to(th.float64)
        target = scale * th.randint(-4, 5, tgt_shape, generator=gen).to(th.float64)
    else:
        current = 4.0 * th.randn(cur_shape, generator=gen, dtype=th.float64)
        target = 4.0 * th.randn(tgt_shape, generator=gen, dtype=th.float64)
    cum_prob = th.rand(cur_shape, generator=gen, dtype=th.float64) if with_cum_prob else None
    assert_same(current, target, cum_prob, sum_over_quantiles, kappa)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 30), kappa=st.just(0.0) | st.floats(1e-3, 10.0),
       shift=st.floats(-1e3, 1e3),
       seed=st.integers(0, 2**31 - 1))
def test_property_shift_invariance_and_kappa_continuity(n, m, kappa, shift, seed):
    """The loss depends on differences only; kappa -> 0 tends to the pure quantile loss."""
    gen = th.Generator().manual_seed(seed)
    current = th.randn(3, n, generator=gen, dtype=th.float64)
    target = th.randn(3, m, generator=gen, dtype=th.float64)
    value, grad = value_and_grad(quantile_huber_loss, current, target, kappa=kappa, method="sorted")
    shifted, shifted_grad = value_and_grad(quantile_huber_loss, current + shift, target + shift, kappa=kappa,
                                           method="sorted")
    th.testing.assert_close(shifted, value, rtol=1e-6, atol=1e-9)
    th.testing.assert_close(shifted_grad, grad, rtol=1e-6, atol=1e-9)
    tiny, _ = value_and_grad(quantile_huber_loss, current, target, kappa=1e-9, method="sorted")
    pure, _ = value_and_grad(quantile_huber_loss, current, target, kappa=0.0, method="sorted")
    th.testing.assert_close(tiny, pure, rtol=1e-6, atol=1e-8)
    assert float(value) <= float(pure) + 1e-9  # huber_kappa(u) / kappa <= |u|


@pytest.mark.parametrize("magnitude", [1e3, 1e4])
@pytest.mark.parametrize("shapes", [((32, 200), (32, 200)), ((16, 5, 25), (16, 1, 115))])
def test_float32_large_returns_are_accurate(magnitude, shapes):
    """float32 returns ~1e3..1e4: the sorted loss (computed in float64, centred per sample) matches a
    float64 pairwise reference on the same float32 values to float32 precision."""
    gen = th.Generator().manual_seed(5)
    current = (magnitude + 0.05 * magnitude * th.randn(shapes[0], generator=gen)).float()
    target = (magnitude + 0.05 * magnitude * th.randn(shapes[1], generator=gen)).float()
    ref_value, ref_grad = value_and_grad(sb3_loss, current.double(), target.double())
    value, grad = value_and_grad(quantile_huber_loss, current, target, method="sorted")
    assert value.dtype == th.float32 and grad.dtype == th.float32
    assert abs(float(value) - float(ref_value)) <= 1e-6 * abs(float(ref_value))
    assert float((grad.double() - ref_grad).abs().max()) <= 1e-6 * float(ref_grad.abs().max())


def test_only_current_quantiles_get_a_gradient():
    current = th.randn(4, 30, requires_grad=True)
    target = th.randn(4, 30)
    loss = quantile_huber_loss(current, target, method="sorted")
    loss.backward()
    assert current.grad is not None and current.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="target_quantiles requires grad"):
        quantile_huber_loss(current, target.requires_grad_(True))
    with pytest.raises(ValueError, match="cum_prob requires grad"):
        quantile_huber_loss(current, th.randn(4, 30), th.rand(30, requires_grad=True))


def test_no_grad_and_frozen_currents():
    current, target = th.randn(4, 40), th.randn(4, 40)
    with th.no_grad():
        a = quantile_huber_loss(current, target, method="sorted")
    b = quantile_huber_loss(current, target, method="pairwise")
    assert not a.requires_grad and th.allclose(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 1, 5)), "target_quantiles must have as many"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(3, 5)), r"target_quantiles has shape \(3, 5\)"),
    (dict(current_quantiles=th.zeros(4, 2, 5), target_quantiles=th.zeros(4, 3, 5)), r"\(4, 1, n_target_quantiles\)"),
    (dict(current_quantiles=th.zeros(5), target_quantiles=th.zeros(5)), "current_quantiles must be"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 5, dtype=th.float64)), "one dtype"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 0)), "empty"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.tensor([[0.0, float("nan")]] * 4)), "NaN"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.tensor([[0.0, float("inf")]] * 4)), "infinite"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 5), cum_prob=th.zeros(3)), "cum_prob"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 5), kappa=-1.0), "kappa must be"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 5), kappa=float("nan")), "kappa must be"),
    (dict(current_quantiles=th.zeros(4, 5), target_quantiles=th.zeros(4, 5), method="fast"), "method must be one"),
])
def test_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        quantile_huber_loss(**kwargs)


# -- DηN ---------------------------------------------------------------------------------------------

SMALL = dict(learning_starts=64, batch_size=32, buffer_size=2000, train_freq=1, target_update_interval=50,
             policy_kwargs=dict(n_quantiles=51, net_arch=[16]), seed=0)


def grid_detan(**kwargs):
    return DEtaN("MlpPolicy", make_stock_env("rdo/CVaRGrid-v0"), objective="cvar:0.1", **{**SMALL, **kwargs})


def sgd_grid_detan(**kwargs):
    """Plain SGD with a large step: the step is the gradient itself (Adam's normalization would turn
    rounding noise in near-zero gradients into full-size steps)."""
    policy_kwargs = dict(SMALL["policy_kwargs"], optimizer_class=th.optim.SGD, optimizer_kwargs=dict(momentum=0.0))
    return grid_detan(learning_rate=0.5, policy_kwargs=policy_kwargs, **kwargs)


def one_step(model, state, seed=123):
    """One gradient step from ``state`` (policy and optimizer), with the same replay sample."""
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])
    np.random.seed(seed)
    th.manual_seed(seed)
    model.train(gradient_steps=1, batch_size=model.batch_size)
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}, model.logger.name_to_value[
        "train/loss"]


def test_detan_defaults_and_validation():
    model = grid_detan()
    assert model.kappa == 1.0 and model.loss_method == "auto"
    with pytest.raises(ValueError, match="kappa must be"):
        grid_detan(kappa=-0.5)
    with pytest.raises(ValueError, match="loss_method must be one of"):
        grid_detan(loss_method="exact")


def test_detan_gradient_step_is_the_same_pairwise_or_sorted():
    model = sgd_grid_detan()
    model.learn(200)  # fills the buffer (and trains)
    state = {"policy": copy.deepcopy(model.policy.state_dict()),
             "optimizer": copy.deepcopy(model.policy.optimizer.state_dict())}
    results = {}
    for method in ("pairwise", "sorted", "auto"):
        model.loss_method = method
        results[method] = one_step(model, state)
    params, loss = results["pairwise"]
    for method in ("sorted", "auto"):
        other, other_loss = results[method]
        assert other_loss == pytest.approx(loss, rel=1e-5)
        for name, value in params.items():
            th.testing.assert_close(other[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert any(not th.equal(v, state["policy"][k]) for k, v in params.items())  # the step moved something
    model.loss_method, model.kappa = "sorted", 0.2  # another kappa: another step
    other, other_loss = one_step(model, state)
    assert other_loss != pytest.approx(loss, rel=1e-3)


def test_detan_save_load_keeps_the_loss(tmp_path):
    model = grid_detan(kappa=0.25, loss_method="sorted")
    model.save(tmp_path / "m.zip")
    loaded = DEtaN.load(tmp_path / "m.zip", env=make_stock_env("rdo/CVaRGrid-v0"))
    assert loaded.kappa == 0.25 and loaded.loss_method == "sorted"
    loaded.learn(100)  # trains with them


# -- FastQRDQN / FastTQC -----------------------------------------------------------------------------

def twin_train(make, fast_cls, fast_kwargs, loss_key, tmp_path, steps=300, seed=7):
    """The same batch, from the same parameters and optimizer states, through sb3-contrib's class and the
    Fast one: the logged loss and the parameters after one gradient step."""
    ref = make(None)
    ref.learn(steps)
    ref.save(tmp_path / "ref.zip")
    fast = fast_cls.load(tmp_path / "ref.zip", env=ref.get_env())  # also the optimizers' states
    for name, value in fast_kwargs.items():
        setattr(fast, name, value)
    fast.set_logger(ref.logger)
    fast.replay_buffer = copy.deepcopy(ref.replay_buffer)
    out = []
    for model in (ref, fast):
        np.random.seed(seed)
        th.manual_seed(seed)
        model.train(gradient_steps=1, batch_size=model.batch_size)
        out.append((model.logger.name_to_value[loss_key], copy.deepcopy(model.policy.state_dict())))
    return out


def make_qrdqn(fast_kwargs):
    kwargs = dict(learning_starts=100, batch_size=32, policy_kwargs=dict(n_quantiles=64, net_arch=[32]), seed=0)
    if fast_kwargs is None:
        return QRDQN("MlpPolicy", "CartPole-v1", **kwargs)
    return FastQRDQN("MlpPolicy", "CartPole-v1", **kwargs, **fast_kwargs)


def make_tqc(fast_kwargs):
    kwargs = dict(learning_starts=100, batch_size=32, seed=0,
                  policy_kwargs=dict(n_quantiles=25, n_critics=2, net_arch=[32]))
    env = gym.make("Pendulum-v1")
    if fast_kwargs is None:
        return TQC("MlpPolicy", env, **kwargs)
    return FastTQC("MlpPolicy", env, **kwargs, **fast_kwargs)


@pytest.mark.parametrize("make, loss_key", [(make_qrdqn, "train/loss"), (make_tqc, "train/critic_loss")])
def test_fast_classes_give_sb3_contribs_loss(make, loss_key, monkeypatch, tmp_path):
    calls = []
    real = losses._SortedQuantileHuber.apply
    monkeypatch.setattr(losses._SortedQuantileHuber, "apply", lambda *a: calls.append(1) or real(*a))
    fast_cls = FastQRDQN if make is make_qrdqn else FastTQC
    (ref_loss, ref_state), (fast_loss, fast_state) = twin_train(make, fast_cls, dict(loss_method="sorted"),
                                                                loss_key, tmp_path)
    assert len(calls) == 1  # the gradient step went through the sorted loss
    assert fast_loss == pytest.approx(ref_loss, rel=1e-6)
    for name, value in ref_state.items():
        th.testing.assert_close(fast_state[name], value, rtol=1e-4, atol=1e-6, msg=name)
    # sb3-contrib itself is untouched: its modules keep their loss
    assert sb3_qrdqn_module.quantile_huber_loss is sb3_utils.quantile_huber_loss
    assert sb3_tqc_module.quantile_huber_loss is sb3_utils.quantile_huber_loss


def test_fast_qrdqn_kappa_changes_the_loss_and_survives_save_load(tmp_path):
    (ref_loss, _), (fast_loss, _) = twin_train(make_qrdqn, FastQRDQN, dict(loss_kappa=0.1), "train/loss", tmp_path)
    assert fast_loss != pytest.approx(ref_loss, rel=1e-3)
    model = make_qrdqn(dict(loss_kappa=0.1, loss_method="pairwise"))
    model.save(tmp_path / "q.zip")
    loaded = FastQRDQN.load(tmp_path / "q.zip")
    assert loaded.loss_kappa == 0.1 and loaded.loss_method == "pairwise"
    with pytest.raises(ValueError, match="loss_method must be one of"):
        make_qrdqn(dict(loss_method="quick"))
    with pytest.raises(ValueError, match="loss_kappa must be"):
        make_qrdqn(dict(loss_kappa=-1))


def test_fast_classes_refuse_a_train_that_does_not_call_the_loss_by_name():
    def train(self, gradient_steps, batch_size=100):
        return sb3_utils.quantile_huber_loss  # an attribute, not the global name the subclasses replace

    with pytest.raises(RuntimeError, match="no longer calls quantile_huber_loss"):
        losses._train_with_loss(train, sb3_qrdqn_module, 1.0, "auto")
    rebound = losses._train_with_loss(QRDQN.train, sb3_qrdqn_module, 1.0, "auto")
    assert rebound.__code__ is QRDQN.train.__code__
    assert rebound.__globals__["quantile_huber_loss"].func is quantile_huber_loss


@pytest.mark.parametrize("method, kappa", [("pairwise", 1e-300), ("pairwise", 5e-324), ("sorted", 1e-6)])
def test_tiny_kappa_is_finite_and_tends_to_the_quantile_loss(method, kappa):
    """Targets tied with the currents and returns ~1e3: pairwise at any kappa > 0; sorted down to the
    kappa its documented accuracy allows (1e-16 * spread / kappa)."""
    gen = th.Generator().manual_seed(6)
    current = 1e3 * th.randn(4, 20, generator=gen, dtype=th.float64)
    target = th.cat([current[:, :5], 1e3 * th.randn(4, 15, generator=gen, dtype=th.float64)], dim=1)
    value, grad = value_and_grad(quantile_huber_loss, current, target, kappa=kappa, method=method)
    pure, pure_grad = value_and_grad(sb3_loss, current, target, kappa=0.0)
    assert th.isfinite(value) and th.isfinite(grad).all()
    th.testing.assert_close(value, pure, rtol=1e-6, atol=0.0)
    th.testing.assert_close(grad, pure_grad, rtol=1e-6, atol=1e-6 * float(pure_grad.abs().max()))
