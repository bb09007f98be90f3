"""DηN learning test (slow): reach several asked returns with one stock-conditioned agent."""

import numpy as np
import pytest
import torch as th
from toy_envs import CoinEnv

from rdo_gym import StockAugmentation, TargetReturn, UniformStock
from rdo_sb3 import DEtaN, evaluate_objective


@pytest.mark.slow
def test_detan_reaches_several_target_returns():
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        env = StockAugmentation(CoinEnv(5), gamma=1.0, initial_stock=UniformStock(-5, 0, integer=True),
                                flatten=True, stock_scale=0.2)
        model = DEtaN("MlpPolicy", env, objective="target:3", learning_rate=1e-3, buffer_size=20_000,
                      learning_starts=500, batch_size=64, train_freq=1, target_update_interval=500,
                      exploration_fraction=0.3, relabel_stocks=0.5, seed=0,
                      policy_kwargs=dict(n_quantiles=16, net_arch=[64, 64]))
        model.learn(15_000)
        for target in (1.0, 2.0, 4.0):
            model.set_objective(TargetReturn(target))
            report = evaluate_objective(model, env, n_episodes=10, seed=1)
            assert (report.initial_stocks == -target).all()
            assert report.value <= 0.25, (target, report.returns)  # E|G - target|
            assert np.mean(report.returns) == pytest.approx(target, abs=0.25)
    finally:
        th.set_num_threads(threads)
