"""Stock augmentation on an image env (MinAtar, benchmarks/pixels.py): SB3's env check, DηN's CnnPolicy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("minatar", reason="the pixel env is MinAtar: pip install 'rdo[bench]' (or pip install minatar)")

import torch as th  # noqa: E402
from stable_baselines3.common.env_checker import check_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("rdo_pixels_benchmark", ROOT / "benchmarks" / "pixels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pixels():
    return _load()


def test_minatar_image_is_an_sb3_uint8_image(pixels):
    env = pixels.make_minatar("Breakout")
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (10, 10, 4)
    assert set(np.unique(obs)) <= {0, 255} and (obs == 255).any()
    inner = env.unwrapped.game.state()
    np.testing.assert_array_equal(obs == 255, inner)  # the same pixels, as 0/255


def test_stock_augmented_image_env_passes_sb3_check_and_tracks_the_score(pixels):
    env = pixels.make_stock_minatar(10.0, "SpaceInvaders")
    check_env(env, warn=False)
    obs, info = env.reset(seed=1, options={"initial_stock": -10.0})
    assert set(obs) == {"observation", "stock"} and obs["observation"].dtype == np.uint8
    assert obs["stock"][0] == pytest.approx(-1.0)  # scale 1/target
    total, done, rng = 0.0, False, np.random.default_rng(0)
    while not done:
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        total += reward
        done = terminated or truncated
    assert info["stock"] == pytest.approx(-10.0 + total) and obs["stock"][0] == pytest.approx((total - 10.0) / 10)


def test_detan_cnn_policy_trains_on_pixels_and_reads_the_stock(pixels):
    th.manual_seed(0)
    env = pixels.make_stock_minatar(5.0, "Breakout")
    model = pixels.make_detan(env, 5.0, seed=0, learning_starts=50, buffer_size=1_000)
    assert isinstance(model.policy.quantile_net.features_extractor, pixels.SmallImageStockExtractor)
    model.learn(200)
    assert model.num_timesteps == 200
    obs, _ = env.reset(seed=3)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    # The stock reaches the network: the same image with another stock gives other quantiles.
    tensor, _ = model.policy.obs_to_tensor(obs)
    other = {**obs, "stock": np.array([3.0], dtype=np.float32)}
    other_tensor, _ = model.policy.obs_to_tensor(other)
    with th.no_grad():
        q, q_other = model.policy.quantile_net(tensor), model.policy.quantile_net(other_tensor)
    assert not th.allclose(q, q_other)


def test_small_image_extractor_refuses_a_flat_space(pixels):
    from gymnasium import spaces

    with pytest.raises(ValueError, match="needs a Dict observation space"):
        pixels.SmallImageStockExtractor(spaces.Box(0, 1, (4,)))
