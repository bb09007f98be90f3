"""Presets (rdo_gym.presets.Preset, rdo_envs.preset) and the one model factory (rdo_sb3.make_model)."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest
from sb3_contrib import QRDQN

import rdo_envs
from rdo_gym.presets import Preset
from rdo_sb3 import DEtaN, make_model


def test_presets_give_detan_and_qrdqn_the_same_hyperparameters():
    assert set(rdo_envs.preset_env_ids("detan")) == set(rdo_envs.preset_env_ids("qrdqn")) == set(rdo_envs.ENV_IDS) | {
        "rdo/WealthGoalDiscrete-v0"}
    for env_id in rdo_envs.preset_env_ids("detan"):
        detan, qrdqn = rdo_envs.preset(env_id, "detan"), rdo_envs.preset(env_id, "qrdqn")
        assert detan.gamma == qrdqn.gamma == 1.0  # explicit, the benchmarks' gamma
        assert (detan.agent, qrdqn.agent, detan.env_id) == ("detan", "qrdqn", env_id)
        assert qrdqn.objective == "mean" and detan.objective in rdo_envs.env_class(env_id).reference_objectives
        params = detan.kwargs()
        params.pop("relabel_stocks", None)  # DηN only
        assert params.pop("kappa") == 0.0  # DηN's pure quantile loss on lattice returns (QR-DQN keeps its own)
        assert params == qrdqn.kwargs() and detan.n_timesteps == qrdqn.n_timesteps == 100_000, env_id
    # CVaR needs its lower quantiles backed up faster than the other benchmarks (docs/learning.md)
    assert rdo_envs.preset("rdo/CVaRGrid-v0").hyperparameters["target_update_interval"] == 250
    assert rdo_envs.preset("rdo/TargetGrid-v0").hyperparameters["target_update_interval"] == 1000
    # ... and relabelling for its outer search over c0 (docs/learning.md)
    assert rdo_envs.preset("rdo/CVaRGrid-v0").hyperparameters["relabel_stocks"] is True
    assert rdo_envs.preset("rdo_envs:rdo/CVaRGrid-v0") == rdo_envs.preset("rdo/CVaRGrid-v0")


def test_preset_is_frozen_checked_and_copied():
    p = rdo_envs.preset("rdo/TargetGrid-v0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.gamma = 0.9  # type: ignore[misc]
    p.kwargs()["policy_kwargs"]["net_arch"].append(1)
    assert p.hyperparameters["policy_kwargs"]["net_arch"] == [128, 128]
    q = p.with_overrides(gamma=0.9, learning_rate=5e-4, n_timesteps=10)
    assert (q.gamma, q.n_timesteps, q.hyperparameters["learning_rate"]) == (0.9, 10, 5e-4) and p.gamma == 1.0
    with pytest.raises(ValueError, match="gamma"):
        Preset("detan", None, "mean", 0.0, 10)
    with pytest.raises(ValueError, match="own field"):
        Preset("detan", None, "mean", 1.0, 10, hyperparameters={"gamma": 0.9})
    with pytest.raises(ValueError, match="policy_kwargs must be a mapping"):
        Preset("qrdqn", None, "mean", 1.0, 10, hyperparameters={"policy_kwargs": "dict(net_arch=[8])"})
    with pytest.raises(ValueError, match="unknown agent"):
        Preset("ppo", None, "mean", 1.0, 10)
    with pytest.raises(ValueError, match="no detan preset"):
        rdo_envs.preset("CartPole-v1")
    assert Preset.defaults("qrdqn").hyperparameters == {} and Preset.defaults("qrdqn").gamma == 1.0


def test_make_model_uses_the_preset_and_its_explicit_gamma():
    small = {"learning_starts": 10, "buffer_size": 500}
    preset = rdo_envs.preset("rdo/CVaRGrid-v0")
    model = make_model(preset, rdo_envs.make_stock_env("rdo/CVaRGrid-v0"), seed=0, **small)
    assert isinstance(model, DEtaN) and str(model.objective) == "cvar:0.1" and model.gamma == 1.0
    assert model.target_update_interval == 250 and model.buffer_size == 500
    # The stock-free baseline gets the preset's gamma too (not SB3's default 0.99).
    naive = make_model(preset, gym.make("rdo/CVaRGrid-v0"), objective="cvar:0.25", naive=True,
                       relabel_stocks=False, **small)
    assert naive.gamma == 1.0 and naive.naive and str(naive.objective) == "cvar:0.25"
    peer = make_model(rdo_envs.preset("rdo/CVaRGrid-v0", "qrdqn"), gym.make("rdo/CVaRGrid-v0"), relabel_stocks=True,
                      **small)
    assert isinstance(peer, QRDQN) and peer.gamma == 1.0
    with pytest.raises(ValueError, match="preset"):
        make_model(preset, gym.make("rdo/CVaRGrid-v0"), gamma=0.9)


def test_continuous_presets_and_factory_build_detatqc_and_its_tqc_peer():
    from sb3_contrib import TQC

    from rdo_gym.presets import AGENTS, CONTINUOUS_AGENTS, STOCK_AGENTS
    from rdo_sb3 import DEtaTQC
    from rdo_sb3.factory import agent_class

    assert set(STOCK_AGENTS) | set(CONTINUOUS_AGENTS) <= set(AGENTS)
    assert rdo_envs.preset_env_ids("detatqc") == rdo_envs.preset_env_ids("tqc") == ("rdo/WealthGoal-v0",)
    mine, peer = rdo_envs.preset("rdo/WealthGoal-v0", "detatqc"), rdo_envs.preset("rdo/WealthGoal-v0", "tqc")
    params = mine.kwargs()
    assert params.pop("relabel_stocks") == 0.5 and params == peer.kwargs() and mine.gamma == peer.gamma == 1.0
    assert mine.objective in rdo_envs.env_class("rdo/WealthGoal-v0").reference_objectives and peer.objective == "mean"
    small = {"learning_starts": 10, "buffer_size": 200}
    model = make_model(mine, rdo_envs.make_stock_env("rdo/WealthGoal-v0"), objective="prob:30", seed=0, **small)
    assert type(model) is DEtaTQC and str(model.objective) == "prob:30" and model.relabel_stocks == 0.5
    assert model.gamma == 1.0 and model.buffer_size == 200 and model.critic.n_quantiles == 25
    plain = make_model(peer, gym.make("rdo/WealthGoal-v0"), relabel_stocks=0.5, **small)  # the stock key is dropped
    assert type(plain) is TQC and plain.gamma == 1.0
    assert [agent_class(a).__name__ for a in AGENTS] == ["DEtaN", "QRDQN", "DEtaTQC", "TQC"]
    with pytest.raises(ValueError, match="unknown agent 'sac'"):
        agent_class("sac")
