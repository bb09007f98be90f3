"""DEtaN refuses an env whose observation was changed above the stock wrapper (it would misread the stock)."""

import gymnasium as gym
import pytest
from gymnasium.wrappers import TimeAwareObservation
from stable_baselines3.common.env_util import make_vec_env

from rdo_gym import StockAugmentation
from rdo_sb3 import DEtaN


def test_wrapper_above_the_stock_is_refused():
    env = TimeAwareObservation(StockAugmentation(gym.make("CartPole-v1"), flatten=True))
    with pytest.raises(ValueError, match="apply StockAugmentation last"):
        DEtaN("MlpPolicy", env, objective="cvar:0.1")


def test_stock_wrapper_outermost_is_accepted_in_a_vec_env():
    vec = make_vec_env("CartPole-v1", n_envs=2, wrapper_class=StockAugmentation, wrapper_kwargs={"flatten": True})
    model = DEtaN("MlpPolicy", vec, objective="cvar:0.1", stock_range=(-5, 5))
    assert model.stock_layout is not None and model.stock_layout.index == 4
