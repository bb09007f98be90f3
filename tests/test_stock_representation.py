"""The stock's representation in the observation: raw `scale * C_t`, or discounted `(scale * X_t, gamma^t)`.

Every reader gets the exact `C_t` through the layout; the discounted entries stay bounded in long
discounted episodes; writing stocks keeps `X = gamma^t C` at the observation's own `gamma^t`; the
scorer's homogeneous form `f(X + gamma^t G)` picks the same actions as `f(C + G)`.
"""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from toy_envs import ScriptedRewards

from rdo_gym import (
    REPRESENTATIONS,
    CVaR,
    ExpectedUtility,
    Homeostasis,
    MeanCVaR,
    ProbabilityAtLeast,
    StockAugmentation,
    StockLayout,
    TargetReturn,
    UniformStock,
)
from rdo_sb3 import DEtaN
from rdo_sb3.scorers import StockScorer
from rdo_sb3.stock_input import write_stocks

SMALL = dict(policy_kwargs=dict(n_quantiles=8, net_arch=[16]), learning_starts=20, batch_size=16,
             buffer_size=2000, train_freq=1, target_update_interval=50)


def scripted(rewards, gamma, flatten=True, scale=1.0, representation="discounted", c0=0.0):
    return StockAugmentation(ScriptedRewards(rewards), gamma=gamma, initial_stock=c0, flatten=flatten,
                             stock_scale=scale, representation=representation)


# -- the wrapper ----------------------------------------------------------------------------------------
def test_default_is_raw_for_gamma_one_and_the_documented_default_below():
    from rdo_gym.stock import DEFAULT_DISCOUNTED_REPRESENTATION

    assert REPRESENTATIONS == ("raw", "discounted")
    assert StockAugmentation(gym.make("CartPole-v1"), gamma=1.0).stock_layout.representation == "raw"
    below = StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, flatten=True)
    assert below.stock_layout.representation == DEFAULT_DISCOUNTED_REPRESENTATION
    assert below.observation_space.shape == (4 + below.stock_layout.size,)


def test_bad_representation_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match=r"representation must be one of \('raw', 'discounted'\).*'dicounted'"):
        StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, representation="dicounted")


@pytest.mark.parametrize("flatten", [True, False])
def test_spaces_and_check_env(flatten):
    env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, flatten=flatten, initial_stock=UniformStock(-2, 2),
                            representation="discounted", stock_scale=0.5)
    layout = env.stock_layout
    if flatten:
        assert env.observation_space.shape == (6,) and layout.index == 4 and layout.key is None
        assert env.observation_space.low[-1] == 0.0 and env.observation_space.high[-1] == 1.0
    else:
        assert env.observation_space["stock"].shape == (2,) and layout.key == "stock" and layout.index is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=False)


@settings(max_examples=60, deadline=None)
@given(rewards=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40),
       gamma=st.floats(0.5, 1.0), c0=st.floats(-10, 10), scale=st.sampled_from([1.0, 0.25, 0.01]),
       flatten=st.booleans())
def test_discounted_entries_are_x_and_gamma_t_and_read_gives_c(rewards, gamma, c0, scale, flatten):
    env = scripted(rewards, gamma, flatten, scale, c0=c0)
    obs, info = env.reset(seed=0)
    x, discount = c0, 1.0
    for r in rewards:
        obs, _, terminated, _, info = env.step(0)
        x, discount = x + discount * r, discount * gamma
        entries = obs[-2:] if flatten else obs["stock"]
        assert entries[0] == np.float32(scale * x) and entries[1] == np.float32(discount)
        assert env.stock_times_discount == pytest.approx(x, rel=1e-12, abs=1e-12)
        c = float(env.stock_layout.read(obs))
        assert c == pytest.approx(info["stock"], rel=1e-5, abs=1e-5 / scale / discount)
        x_read, g_read = env.stock_layout.read_discounted(obs)
        assert float(x_read) == pytest.approx(x, rel=1e-6, abs=1e-6 / scale)
        assert float(g_read) == pytest.approx(discount, rel=1e-6)
        if terminated:
            break


@settings(max_examples=30, deadline=None)
@given(rewards=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=20), c0=st.floats(-10, 10),
       flatten=st.booleans())
def test_gamma_one_discounted_carries_exactly_the_raw_stock(rewards, c0, flatten):
    raw, disc = scripted(rewards, 1.0, flatten, representation="raw", c0=c0), scripted(rewards, 1.0, flatten, c0=c0)
    for (o1, i1), (o2, i2) in zip([raw.reset(seed=0)] + [raw.step(0)[::4] for _ in rewards],
                                  [disc.reset(seed=0)] + [disc.step(0)[::4] for _ in rewards], strict=True):
        assert raw.stock_layout.read(o1) == disc.stock_layout.read(o2)  # X_t = C_t, gamma^t = 1: bit for bit
        assert (o2[-1] if flatten else o2["stock"][1]) == 1.0
        assert i1["stock"] == i2["stock"]


def test_long_discounted_episode_stays_bounded_where_raw_saturates():
    gamma, steps = 0.99, 9000  # raw C_t passes float32's maximum near step 8800
    raw, disc = scripted([1.0] * steps, gamma, representation="raw"), scripted([1.0] * steps, gamma)
    raw.reset(seed=0), disc.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(steps):
            o_raw, *_ = raw.step(0)
            o_disc, *_ = disc.step(0)
            if t == 499:  # C_500 = X_500 / 0.99^500: the raw entry is 152 times larger
                assert o_raw[-1] / o_disc[-2] == pytest.approx(gamma ** -500, rel=1e-5)
    assert any("float32 range" in str(w.message) for w in caught)  # raw: one saturation warning
    assert abs(o_raw[-1]) == np.finfo(np.float32).max
    bound = 1.0 / (1.0 - gamma)
    assert 0.0 < o_disc[-2] <= bound and o_disc[-2] == pytest.approx(bound * (1 - gamma**steps), rel=1e-5)
    assert 0.0 < o_disc[-1] < 1e-38  # gamma^t: subnormal in float32, still > 0
    c = disc.stock_layout.read(o_disc)  # float64: beyond float32's range, few digits of a subnormal gamma^t
    assert c.dtype == np.float64 and c > 1e38 and c == pytest.approx(disc.stock, rel=1e-2)


# -- writing stocks ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(stocks=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8), t=st.integers(0, 600),
       scale=st.sampled_from([1.0, 0.1]), flatten=st.booleans())
def test_with_stocks_and_write_stocks_keep_gamma_t_and_read_back(stocks, t, scale, flatten):
    gamma = 0.99
    layout = StockLayout(gamma, scale, None if flatten else "stock", 2 if flatten else None, None, "discounted")
    g = np.float32(gamma**t)
    obs = np.array([0.5, -0.5, 3.0 * scale, g], np.float32) if flatten else {
        "observation": np.array([0.5, -0.5], np.float32), "stock": np.array([3.0 * scale, g], np.float32)}
    batch = layout.with_stocks(obs, stocks)
    np.testing.assert_allclose(layout.read(batch), stocks, rtol=2e-6, atol=1e-30)
    discount = batch[:, -1] if flatten else batch["stock"][:, 1]
    assert np.all(discount == g)
    # the torch writer, as relabelling uses it
    tobs = th.as_tensor(batch) if flatten else {k: th.as_tensor(v) for k, v in batch.items()}
    new = th.tensor(stocks[::-1], dtype=th.float32)
    written = write_stocks(layout, tobs, new)
    np.testing.assert_allclose(layout.read(written).numpy(), new.numpy(), rtol=2e-6, atol=1e-30)
    x, g_read = layout.read_discounted(written)
    assert th.all(g_read == float(g))
    np.testing.assert_allclose(x.numpy(), float(g) * new.numpy(), rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize("flatten", [True, False])
def test_write_stocks_where_leaves_the_other_rows_bit_for_bit(flatten):
    layout = StockLayout(0.99, 1.0, None if flatten else "stock", 1 if flatten else None, None, "discounted")
    entries = th.tensor([[3.0, 0.0], [0.3, 1e-40], [2.5, 0.5]])  # gamma^t underflowed, subnormal, plain
    obs = th.cat([th.ones(3, 1), entries], dim=1) if flatten else {"observation": th.ones(3, 1), "stock": entries}
    assert th.isinf(layout.read(obs)[0])  # C = 3 / 0: reading and writing back would break this row
    out = write_stocks(layout, obs, th.tensor([7.0, 7.0, 7.0]), where=th.tensor([False, False, True]))
    out_entries = out[:, 1:] if flatten else out["stock"]
    assert th.equal(out_entries[:2], entries[:2]) and out_entries[2].tolist() == [3.5, 0.5]


def test_raw_layout_write_stocks_where():
    layout = StockLayout(1.0, 0.5, None, 1, None)
    obs = th.tensor([[1.0, 2.0], [1.0, 4.0]])
    out = write_stocks(layout, obs, th.tensor([10.0, 10.0]), where=th.tensor([True, False]))
    assert out.tolist() == [[1.0, 5.0], [1.0, 4.0]]


def test_check_matches_names_the_representation():
    raw = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, flatten=True, representation="raw").stock_layout
    disc = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, flatten=True, representation="discounted")
    with pytest.raises(ValueError, match="representation='discounted' there, representation='raw' for the model"):
        raw.check_matches(disc.stock_layout)


def test_a_layout_pickled_before_representations_existed_reads_as_raw():
    layout = StockLayout(0.9, 1.0, None, 4, None)
    state = dict(layout.__dict__)
    del state["representation"]  # what an older pickle restores
    old = object.__new__(StockLayout)
    object.__setattr__(old, "__dict__", state)
    assert old.representation == "raw" and not old.discounted and old.size == 1


# -- the scorer's homogeneous form --------------------------------------------------------------------------
HOMOGENEOUS = [CVaR(0.25), TargetReturn(1.5), ProbabilityAtLeast(2.0), MeanCVaR(0.5, 0.3), Homeostasis(0.0),
               ExpectedUtility(lambda x: -x * x, name="neg-square", homogeneous=True)]


def _layouts():
    raw = StockLayout(0.5, 1.0, None, 1, None, "raw")
    disc = StockLayout(0.5, 1.0, None, 1, None, "discounted")
    return raw, disc


@settings(max_examples=150, deadline=None)
@given(objective=st.sampled_from(HOMOGENEOUS), k=st.integers(0, 25),
       stock=st.integers(-64, 64), quantiles=st.lists(st.integers(-64, 64), min_size=12, max_size=12),
       torch_input=st.booleans())
def test_discounted_form_has_the_same_argmax_and_ties_as_the_exact_stock(objective, k, stock, quantiles,
                                                                         torch_input):
    """Dyadic numbers (multiples of 1/8, gamma^t = 2^-k) make every product and sum exact, so
    `mean_i f(X + g theta_i) = g^deg mean_i f(C + theta_i)` exactly: same argmax set, same ties. (`prob:`
    counts `x >= -1e-10` as reached: on `X + g G` that is `-1e-10 / g` on `C + G`, far below the 1/8
    spacing here for `g >= 2^-25`.)"""
    raw, disc = _layouts()
    c, g = stock / 8.0, 2.0**-k
    q = np.asarray(quantiles, np.float64).reshape(1, 4, 3) / 8.0  # (batch, n_quantiles, n_actions)
    obs_raw, obs_disc = np.array([[0.0, c]]), np.array([[0.0, g * c, g]])
    if torch_input:
        q, obs_raw, obs_disc = th.as_tensor(q), th.as_tensor(obs_raw), th.as_tensor(obs_disc)
    exact = np.asarray(StockScorer(objective, raw).scores(q, obs_raw))
    scored = np.asarray(StockScorer(objective, disc).scores(q, obs_disc))
    assert StockScorer(objective, disc)._discounted_form
    best_exact = exact[0] == exact[0].max()
    best_disc = scored[0] == scored[0].max()
    assert np.array_equal(best_exact, best_disc)
    # and the scores are a positive multiple (g for degree 1, 1 for the indicator, g^2 for -x^2)
    degree = {"neg-square": 2}.get(getattr(objective, "name", ""), 0 if isinstance(objective, ProbabilityAtLeast)
                                   else 1)
    np.testing.assert_array_equal(scored, exact * g**degree)


def test_discounted_form_stays_finite_when_gamma_t_underflowed():
    raw, disc = _layouts()
    q = th.tensor([[[-1.0, 2.0], [0.5, 3.0]]])
    obs = th.tensor([[0.0, -4.0, 0.0]])  # X = -4, gamma^t = 0: C = -inf
    assert th.isinf(disc.read(obs)).all()
    scores = StockScorer(CVaR(0.1), disc).scores(q, obs)
    assert th.equal(scores, th.full((1, 2), -4.0))  # f(X) for every action: an exact tie, no NaN
    scorer = StockScorer(CVaR(0.1), disc, tie_break="mean")
    assert scorer.greedy_actions(q, obs).tolist() == [1]  # the tie is broken by E[G]


def test_non_homogeneous_utility_reads_the_exact_stock():
    raw, disc = _layouts()
    odd = ExpectedUtility(lambda x: x**3 + x, name="odd")  # gamma = 1 only
    assert not StockScorer(odd, disc)._discounted_form
    q = th.tensor([[[1.0, 2.0]]])
    obs = th.tensor([[0.0, 1.5, 0.5]])  # C = 3
    assert th.equal(StockScorer(odd, disc).scores(q, obs), th.tensor([[4.0**3 + 4.0, 5.0**3 + 5.0]]))


# -- the agent ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flatten", [True, False])
def test_detan_trains_saves_loads_and_relabels_with_the_discounted_form(tmp_path, flatten):
    def make(representation="discounted"):
        return StockAugmentation(gym.make("CartPole-v1"), gamma=0.95, flatten=flatten, stock_scale=0.1,
                                 initial_stock=UniformStock(-20, 0), representation=representation)

    policy = "MlpPolicy" if flatten else "MultiInputPolicy"
    model = DEtaN(policy, make(), objective="cvar:0.2", relabel_stocks=1.0, seed=0, **SMALL).learn(200)
    assert model.stock_layout.discounted and model.scorer._discounted_form
    th.manual_seed(0)
    batch = model.replay_buffer.sample(256)
    out = model.relabel(batch)
    layout = model.stock_layout
    c, c_next = layout.read(out.observations), layout.read(out.next_observations)
    assert c.min() >= -20 and c.max() <= 0 and c.std() > 3
    r = out.rewards.view(-1)
    assert th.allclose(c_next, (c + r) / 0.95, rtol=1e-5, atol=1e-4)
    # gamma^t untouched, and gamma^t' = gamma * gamma^t on every transition
    _, g = layout.read_discounted(out.observations)
    _, g_next = layout.read_discounted(out.next_observations)
    assert th.equal(g, layout.read_discounted(batch.observations)[1])
    assert th.allclose(g_next, 0.95 * g, rtol=1e-6)
    path = tmp_path / "m.zip"
    model.save(path)
    loaded = DEtaN.load(path, env=make())
    assert loaded.stock_layout == model.stock_layout
    with pytest.raises(ValueError, match="representation='raw' there|Observation spaces do not match"):
        DEtaN.load(path, env=make("raw"))  # SB3 sees the other space first; the layout check names it otherwise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an untrained agent picks an edge of the range
        c0, _ = loaded.choose_initial_stock(make().reset(seed=0)[0])
    assert -20 <= c0 <= 0


def test_choose_initial_stock_reads_exact_candidates_at_a_later_time():
    layout = StockLayout(0.5, 0.25, None, 1, None, "discounted")
    obs = np.array([9.0, 0.0, 0.125], np.float32)  # t = 3
    batch = layout.with_stocks(obs, [-2.0, 0.0, 6.0])
    np.testing.assert_array_equal(layout.read(batch), [-2.0, 0.0, 6.0])
    assert math.isclose(float(batch[2, 1]), 0.25 * 0.125 * 6.0)


# -- the command line ------------------------------------------------------------------------------------------
def test_cli_records_the_representation_in_run_yml(tmp_path, capsys):
    import yaml

    from rdo_cli.main import main

    folder = tmp_path / "run"
    code = main(["train", "CartPole-v1", "-o", "target:50", "--gamma", "0.99", "--stock-representation", "discounted",
                 "-n", "200", "-f", str(folder), "-q", "--hyperparams", "learning_starts=50"])
    capsys.readouterr()
    assert code == 0
    config = yaml.safe_load((folder / "run.yml").read_text())
    assert config["stock_representation"] == "discounted" and config["stock_range_auto"] is None
    assert main(["evaluate", str(folder), "--episodes", "2"]) == 0  # the env is rebuilt with that layout
    assert main(["train", "CartPole-v1", "-o", "mean", "--stock-representation", "dicounted"]) == 2
    assert "--stock-representation" in capsys.readouterr().err
