"""rdo_sb3.search_initial_stock: a searched c0 (CVaR, mean-CVaR) chosen by Monte Carlo."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from test_sb3_agent import SMALL, coin, constant_network
from toy_envs import CoinEnv

from rdo_gym import StockAugmentation, TerminalObjectiveReward
from rdo_sb3 import DEtaN, evaluate_objective, search_initial_stock

th.set_num_threads(1)


def misled_model(objective="cvar:0.5"):
    """DηN on CoinEnv (G = number of 1-actions in 4 steps) whose quantiles, whatever the input, claim that
    action 0 returns 5..8 and action 1 returns 0. The learned search then picks c0 = -4 (value 4); from
    c0 = -4 the agent always takes action 0 and collects G = 0; from c0 = 0 both actions score 0, ties
    are broken at random and G ~ Binomial(4, 1/2), whose lower half averages above 0."""
    model = DEtaN("MlpPolicy", coin(), objective=objective, seed=0,
                  **{**SMALL, "policy_kwargs": dict(n_quantiles=4, net_arch=[8])})
    constant_network(model.quantile_net, [[5.0, 0.0], [6.0, 0.0], [7.0, 0.0], [8.0, 0.0]])
    return model


def test_monte_carlo_overrules_a_misled_learned_search():
    model, env = misled_model(), coin()
    c0, learned = model.choose_initial_stock(env.reset(seed=0)[0])
    assert (c0, learned) == (-4.0, pytest.approx(4.0))
    search = search_initial_stock(model, env, 40, seed=3)
    assert search.candidates.tolist() == [-4.0, -3.0, -2.0, -1.0, 0.0]  # the integer stock range
    # each value is the objective's Monte Carlo value from that c0, on the same episode seeds
    for c, value in zip(search.candidates, search.values, strict=True):
        assert value == pytest.approx(evaluate_objective(model, env, 40, seed=3, initial_stock=c).value)
    assert search.values[:4].tolist() == [0.0] * 4  # action 0 throughout: G = 0
    assert search.initial_stock == 0.0 and search.value == search.values[4] > 0.5
    assert search.env_steps == 5 * 40 * 4


def test_shortlist_keeps_the_best_learned_candidates():
    model, env = misled_model(), coin()
    one = search_initial_stock(model, env, 10, seed=0, shortlist=1)
    assert one.candidates.tolist() == [-4.0] and one.initial_stock == -4.0 and one.env_steps == 40
    two = search_initial_stock(model, env, 10, seed=0, shortlist=2, stock_candidates=[0.0, -1.0, -4.0, -3.0])
    assert two.candidates.tolist() == [-4.0, -3.0]  # learned values 4 and 3 beat 1 and 0


def test_mean_cvar_is_searched_too():
    env = coin()
    model = DEtaN("MlpPolicy", env, objective="meancvar:0.5:0.5", seed=0,
                  **{**SMALL, "policy_kwargs": dict(n_quantiles=4, net_arch=[8])})
    # action 0 claims G = 0, action 1 G in {-3, -1, 1, 3}: the learned search picks c0 = 0, where the agent
    # ends up collecting nothing; from c0 = -4 it plays action 1 at least at first
    constant_network(model.quantile_net, [[0.0, -3.0], [0.0, -1.0], [0.0, 1.0], [0.0, 3.0]])
    assert model.choose_initial_stock(env.reset(seed=0)[0])[0] == 0.0
    search = search_initial_stock(model, env, 40, seed=3)
    assert search.initial_stock == -4.0 and search.values[-1] == 0.0
    returns = evaluate_objective(model, env, 40, seed=3, initial_stock=-4.0).returns
    lower = np.sort(returns)[:20]  # CVaR_0.5 of 40 equally likely returns
    assert search.value == pytest.approx(0.5 * returns.mean() + 0.5 * lower.mean()) and search.value > 1.0


def test_terminal_reward_route_needs_candidates():
    env = TerminalObjectiveReward(StockAugmentation(CoinEnv(), initial_stock=0.0, flatten=True), "cvar:0.5")
    ppo = PPO("MlpPolicy", env, n_steps=32, batch_size=16, seed=0)
    with pytest.raises(ValueError, match="pass stock_candidates="):
        search_initial_stock(ppo, env, 5)
    with pytest.raises(ValueError, match="shortlist"):
        search_initial_stock(ppo, env, 5, stock_candidates=[-1.0, 0.0], shortlist=1)
    search = search_initial_stock(ppo, env, 6, stock_candidates=[-2.0, 0.0, -2.0], seed=0)
    assert search.candidates.tolist() == [-2.0, 0.0] and search.env_steps == 2 * 6 * 4
    assert search.value == max(search.values)


def test_errors_name_the_problem():
    model, env = misled_model(), coin()
    with pytest.raises(ValueError, match="shortlist must be a positive integer"):
        search_initial_stock(model, env, 5, shortlist=0)
    with pytest.raises(ValueError, match="n_episodes must be a positive integer"):
        search_initial_stock(model, env, 0)
    model.set_objective("target:2")
    with pytest.raises(ValueError, match=r"fixes its own initial stock c0 = -2"):
        search_initial_stock(model, env, 5)
    naive = DEtaN("MlpPolicy", CoinEnv(), objective="cvar:0.5", naive=True, seed=0, **SMALL)
    with pytest.raises(ValueError, match="naive"):
        search_initial_stock(naive, CoinEnv(), 5)
    with pytest.raises(TypeError, match="TerminalObjectiveReward"):
        search_initial_stock(PPO("MlpPolicy", CoinEnv(), n_steps=32, batch_size=16), CoinEnv(), 5)


def test_detatqc_searches_its_c0_the_same_way():
    from test_detatqc import SMALL as TQC_SMALL
    from test_detatqc import dial

    from rdo_sb3 import DEtaTQC

    model = DEtaTQC("MlpPolicy", dial(), objective="cvar:0.25", seed=0, **TQC_SMALL)
    env = dial()
    candidates = [-1.0, -0.5, 0.0, 0.5, 1.0]
    search = search_initial_stock(model, env, 8, stock_candidates=candidates, shortlist=3, seed=4)
    stocks, learned = model.scorer.initial_stock_values(model.quantiles, env.reset(seed=0)[0], candidates)
    assert search.candidates.tolist() == sorted(stocks[np.argsort(-learned, kind="stable")[:3]].tolist())
    for c, value in zip(search.candidates, search.values, strict=True):
        assert value == pytest.approx(evaluate_objective(model, env, 8, seed=4, initial_stock=c).value)
    assert search.initial_stock == search.candidates[int(np.argmax(search.values))] and search.env_steps == 3 * 8
