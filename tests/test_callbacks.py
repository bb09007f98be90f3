"""ObjectiveEvalCallback (the objective evaluated during training) and the terminal-reward route of
evaluate_objective / rollout_returns (any SB3 model, returns of the env's own rewards)."""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import StopTrainingOnNoModelImprovement
from stable_baselines3.common.monitor import Monitor

import rdo_envs
from rdo_gym import StockAugmentation, TerminalObjectiveReward, make_objective
from rdo_sb3 import DEtaN, ObjectiveEvalCallback, evaluate_objective, rollout_returns
from rdo_sb3 import callbacks as callbacks_module
from rdo_sb3.callbacks import CSV_COLUMNS, make_eval_env_like

ENV_ID = "rdo/CVaRGrid-v0"
TINY = dict(learning_starts=50, batch_size=32, train_freq=4, target_update_interval=50,
            policy_kwargs=dict(net_arch=[16], n_quantiles=11))


def stock_env(initial_stock="uniform-int:-8:8", monitor=False):
    inner = gym.make(ENV_ID)
    if monitor:
        inner = Monitor(inner)
    return StockAugmentation(inner, gamma=1.0, initial_stock=initial_stock, flatten=True, stock_scale=0.1)


def terminal_env(objective="cvar:0.1", initial_stock=3.0, monitor=False):
    return TerminalObjectiveReward(stock_env(initial_stock, monitor), objective)


def detan(**kwargs):
    return DEtaN("MlpPolicy", stock_env(monitor=True), objective="cvar:0.1", seed=0, **{**TINY, **kwargs})


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- the callback's figures are evaluate_objective's ----------------------------------------------
def test_the_callback_reports_what_evaluate_objective_reports(tmp_path):
    checked = []

    def compare(callback, evaluation):
        again = evaluate_objective(callback.model, stock_env(), 20, seed=7)
        assert evaluation.value == again.value and evaluation.ci == again.ci
        np.testing.assert_array_equal(evaluation.returns, again.returns)
        np.testing.assert_array_equal(evaluation.initial_stocks, again.initial_stocks)
        checked.append(evaluation.value)

    callback = ObjectiveEvalCallback(stock_env(), eval_freq=100, n_eval_episodes=20, seed=7,
                                     log_path=tmp_path, best_model_save_path=tmp_path, on_evaluation=compare,
                                     verbose=0)
    detan().learn(300, callback=callback)
    assert len(checked) == 3 and [t for t, _ in callback.evaluations] == [100, 200, 300]
    rows = read_rows(tmp_path / "objective_evaluations.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [float(r["value"]) for r in rows] == checked
    last = callback.last_evaluation
    assert float(rows[-1]["ci_low"]) == last.ci[0] and float(rows[-1]["ci_high"]) == last.ci[1]
    assert rows[-1]["objective"] == "cvar:0.1" and rows[-1]["normalized"] == ""
    assert (tmp_path / "best_model.zip").exists()


def test_an_evaluation_is_logged_to_the_sb3_logger(tmp_path):
    from stable_baselines3.common.logger import configure

    model = detan()
    model.set_logger(configure(str(tmp_path / "log"), ["csv"]))
    reference = rdo_envs.reference(ENV_ID, "cvar:0.1")
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=100, n_eval_episodes=10, reference=reference, verbose=0)
    model.learn(100, callback=callback)
    rows = read_rows(tmp_path / "log" / "progress.csv")
    logged = [r for r in rows if r.get("eval/objective")]
    assert len(logged) == 1
    value = callback.last_evaluation.value
    assert float(logged[0]["eval/objective"]) == pytest.approx(value)
    assert float(logged[0]["eval/normalized"]) == pytest.approx(reference.normalized(value))
    assert float(logged[0]["eval/objective_ci_low"]) == pytest.approx(callback.last_evaluation.ci[0])


# -- references -------------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["object", "callable", "dotted path"])
def test_a_reference_normalizes_the_value(tmp_path, given):
    exact = rdo_envs.reference(ENV_ID, "cvar:0.1")
    reference = {"object": exact, "callable": rdo_envs.reference, "dotted path": "rdo_envs.reference"}[given]
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=60, n_eval_episodes=10, reference=reference,
                                     log_path=tmp_path, verbose=0)
    detan().learn(60, callback=callback)
    assert callback.exact_reference == exact
    row = read_rows(tmp_path / "objective_evaluations.csv")[-1]
    assert float(row["normalized"]) == exact.normalized(callback.last_evaluation.value)


def test_a_reference_of_another_objective_is_refused():
    other = rdo_envs.reference(ENV_ID, "cvar:0.25")
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=60, n_eval_episodes=5, reference=other, verbose=0)
    with pytest.raises(ValueError, match="the reference is of cvar:0.25"):
        detan().learn(60, callback=callback)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(eval_freq=0), ValueError, "eval_freq"),
    (dict(n_eval_episodes=1.5), ValueError, "n_eval_episodes"),
    (dict(confidence=1.0), ValueError, "confidence"),
    (dict(reference=3), TypeError, "reference"),
    (dict(reference="nodots"), ValueError, "dotted path"),
    (dict(on_evaluation="stop"), TypeError, "on_evaluation"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ObjectiveEvalCallback(**kwargs)


# -- best model, direction, stopping ---------------------------------------------------------------
class _Scripted:
    """evaluate_objective's stand-in returning scripted values."""

    def __init__(self, values):
        self.values = list(values)

    def __call__(self, model, env, n_episodes, **kwargs):
        real = evaluate_objective(model, env, 2, seed=0, n_bootstrap=10)
        value = self.values.pop(0)
        return replace(real, value=value, ci=(value, value))


@pytest.mark.parametrize(("objective", "values", "best"), [
    ("cvar:0.1", [-5.0, -3.0, -4.0, -2.0], [True, True, False, True]),
    ("homeostasis:3:3", [5.0, 3.0, 4.0, 2.0], [True, True, False, True]),
    ("homeostasis:3:3", [2.0, 3.0, 1.0, 1.0], [True, False, True, False]),
])
def test_the_best_model_follows_the_objective_direction(tmp_path, monkeypatch, objective, values, best):
    monkeypatch.setattr(callbacks_module, "evaluate_objective", _Scripted(values))
    saved = []
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=10, n_eval_episodes=2, log_path=tmp_path,
                                     best_model_save_path=tmp_path, verbose=0)
    model = detan(learning_starts=1000)
    model.set_objective(objective)
    original_save = model.save
    model.save = lambda path, *a, **k: (saved.append(callback.num_timesteps), original_save(path, *a, **k))
    model.learn(40, callback=callback)
    rows = read_rows(tmp_path / "objective_evaluations.csv")
    assert [r["best"] == "1" for r in rows] == best
    assert saved == [10 * (i + 1) for i, b in enumerate(best) if b]
    higher = make_objective(objective).higher_is_better
    expected = (max if higher else min)(values)
    assert callback.best_value == expected
    assert callback.best_mean_reward == (expected if higher else -expected)


def test_on_evaluation_can_stop_training():
    seen = []
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=50, n_eval_episodes=5, verbose=0,
                                     on_evaluation=lambda cb, ev: seen.append(ev.value) or len(seen) < 2)
    model = detan()
    model.learn(1000, callback=callback)
    assert len(seen) == 2 and model.num_timesteps == 100


def test_sb3_stop_callbacks_read_the_objective(monkeypatch):
    monkeypatch.setattr(callbacks_module, "evaluate_objective", _Scripted([-5.0, -6.0, -7.0, -8.0, -9.0]))
    stop = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1, verbose=0)
    callback = ObjectiveEvalCallback(stock_env(), eval_freq=10, n_eval_episodes=2, callback_after_eval=stop,
                                     verbose=0)
    model = detan(learning_starts=1000)
    model.learn(1000, callback=callback)
    assert model.num_timesteps == 30  # no improvement after the first: stopped at the third evaluation


# -- the evaluation env -----------------------------------------------------------------------------
def test_without_eval_env_it_is_rebuilt_from_the_training_env():
    callback = ObjectiveEvalCallback(eval_freq=60, n_eval_episodes=10, verbose=0)
    model = detan()
    model.learn(60, callback=callback)
    again = evaluate_objective(model, stock_env(), 10, seed=0)
    assert callback.last_evaluation.value == again.value
    np.testing.assert_array_equal(callback.last_evaluation.initial_stocks, again.initial_stocks)


def test_make_eval_env_like_rebuilds_the_wrappers_but_not_monitor():
    env = make_eval_env_like(terminal_env(monitor=True))
    assert isinstance(env, TerminalObjectiveReward) and isinstance(env.env, StockAugmentation)
    assert not isinstance(env.env.env, Monitor) and env.env.initial_stock == 3.0


def test_make_eval_env_like_refuses_a_wrapper_without_recorded_arguments():
    class Plain(gym.Wrapper):
        pass

    with pytest.raises(ValueError, match="pass eval_env="):
        make_eval_env_like(StockAugmentation(Plain(gym.make(ENV_ID))))


def test_a_model_without_an_objective_is_refused():
    ppo = PPO("MlpPolicy", stock_env(), n_steps=32, batch_size=32, seed=0)
    with pytest.raises(TypeError, match="TerminalObjectiveReward"):
        ppo.learn(32, callback=ObjectiveEvalCallback(stock_env(), eval_freq=10, verbose=0))


# -- the terminal-reward route ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ppo():
    return PPO("MlpPolicy", terminal_env(), n_steps=64, batch_size=32, gamma=1.0, seed=0).learn(128)


def manual_returns(model, env, seeds, c0):
    out = []
    for s in seeds:
        obs, _ = env.reset(seed=s, options={"initial_stock": c0})
        g, done, utility = 0.0, False, None
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            g += info["original_reward"]
            done = terminated or truncated
            utility = reward
        out.append((g, utility))
    return out


def test_ppo_on_the_terminal_reward_is_scored_on_the_env_returns(ppo):
    env = terminal_env()
    evaluation = evaluate_objective(ppo, env, 30, seed=3)
    seeds = [int(s) for s in np.random.default_rng(3).integers(0, 2**31 - 1, size=30)]
    manual = manual_returns(ppo, terminal_env(), seeds, 3.0)
    np.testing.assert_array_equal(evaluation.returns, [g for g, _ in manual])
    assert any(g != u for g, u in manual)  # the returns are not the terminal utilities paid
    assert evaluation.objective == make_objective("cvar:0.1")
    assert evaluation.value == make_objective("cvar:0.1").value(evaluation.returns)
    assert np.all(evaluation.initial_stocks == 3.0) and np.isnan(evaluation.estimated_values).all()
    assert "learned estimate" not in str(evaluation)


def test_rollout_returns_on_a_terminal_reward_env_are_the_env_returns(ppo):
    returns = rollout_returns(ppo, terminal_env(), 10, seed=1)
    seeds = [int(s) for s in np.random.default_rng(1).integers(0, 2**31 - 1, size=10)]
    np.testing.assert_array_equal(returns, [g for g, _ in manual_returns(ppo, terminal_env(), seeds, 3.0)])


def test_a_searched_c0_must_be_fixed_on_the_stock_wrapper(ppo):
    sampled = terminal_env(initial_stock="uniform-int:-8:8")
    with pytest.raises(ValueError, match="Fix c0 on the stock wrapper"):
        evaluate_objective(ppo, sampled, 5)
    given = evaluate_objective(ppo, sampled, 5, initial_stock=2.0, seed=0)
    assert np.all(given.initial_stocks == 2.0)


def test_a_fixed_stock_objective_starts_at_its_own_c0(ppo):
    env = TerminalObjectiveReward(StockAugmentation(gym.make("rdo/TargetGrid-v0"), initial_stock="uniform-int:-10:6",
                                                    flatten=True, stock_scale=0.1), "target:4")
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, gamma=1.0, seed=0)
    evaluation = evaluate_objective(model, env, 5, seed=0)
    assert np.all(evaluation.initial_stocks == -4.0)


def test_a_plain_model_without_terminal_reward_is_a_type_error(ppo):
    with pytest.raises(TypeError, match="needs a DEtaN model"):
        evaluate_objective(ppo, stock_env(3.0), 5)


def test_the_callback_scores_ppo_on_the_terminal_reward(tmp_path):
    reference = rdo_envs.reference(ENV_ID, "cvar:0.1")
    seen = []

    def compare(callback, evaluation):  # PPO updates after its rollout: compare at the evaluation itself
        again = evaluate_objective(callback.model, terminal_env(initial_stock=reference.initial_stock), 20, seed=0)
        np.testing.assert_array_equal(evaluation.returns, again.returns)
        seen.append(again)

    callback = ObjectiveEvalCallback(eval_freq=64, n_eval_episodes=20, reference="rdo_envs.reference",
                                     log_path=tmp_path, on_evaluation=compare, verbose=0)
    model = PPO("MlpPolicy", terminal_env(initial_stock=reference.initial_stock, monitor=True), n_steps=64,
                batch_size=32, gamma=1.0, seed=0)
    model.learn(64, callback=callback)
    again = seen[-1]
    assert callback.last_evaluation.value == again.value
    row = read_rows(tmp_path / "objective_evaluations.csv")[-1]
    assert float(row["normalized"]) == reference.normalized(again.value)
    assert float(row["mean_initial_stock"]) == reference.initial_stock
    assert not math.isnan(float(row["mean_return"]))
