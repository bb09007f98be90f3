"""benchmarks/standard_envs.py: a smoke run of a few hundred steps, resuming, the intervals and verdicts."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    path = ROOT / "benchmarks" / "standard_envs.py"
    spec = importlib.util.spec_from_file_location("rdo_standard_envs_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the process pool look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load()


def test_cartpole_smoke_run_evaluates_every_agent_on_both_targets_and_resumes(bench, tmp_path, capsys):
    args = ["--settings", "cartpole", "--seeds", "1", "--steps", "300", "--episodes", "6", "--out", str(tmp_path)]
    assert bench.main(args) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["agent"] for r in runs) == sorted(bench.AGENTS)
    for run in runs:
        assert run["steps"] == 300 and run["train_wall_s"] > 0 and run["train_cpu_s"] > 0
        assert [x["objective"] for x in run["results"]] == ["target:100", "target:300"]
        for res in run["results"]:
            g = np.asarray(res["returns"])
            target = float(res["objective"].split(":")[1])
            assert len(g) == 6 and np.all((g >= 1) & (g <= 500)) and np.all(g == np.round(g))  # CartPole lengths
            assert res["value"] == pytest.approx(np.abs(g - target).mean())  # E|G - g|, not E[G]
            assert res["ci95"][0] <= res["value"] <= res["ci95"][1]
            if run["agent"] in ("detan", "detan-relabel", "ppo"):  # the target's own c0 = -g
                assert res["initial_stocks"] == [-target]
            else:
                assert res["initial_stocks"] == []
    table = (tmp_path / "table.md").read_text()
    assert "| cartpole | `target:300` | ppo |" in table and "target <= 15" in table
    capsys.readouterr()
    assert bench.main(["--resume", *args]) == 0  # nothing left to do
    assert "0 runs on 1 process(es) (5 already" in capsys.readouterr().out
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 5


def test_lunar_cvar_ppo_searches_its_c0_by_monte_carlo(bench, tmp_path):
    pytest.importorskip("Box2D", reason="LunarLander needs Box2D: pip install 'rdo[bench]'")
    assert bench.main(["--settings", "lunar", "--objectives", "cvar:0.1", "--agents", "ppo", "detan", "--seeds", "1",
                       "--steps", "256", "--episodes", "4", "--ppo-search", "3", "--search-episodes", "2",
                       "--out", str(tmp_path)]) == 0
    runs = {r["agent"]: r for r in map(json.loads, (tmp_path / "runs.jsonl").read_text().splitlines())}
    ppo = runs["ppo"]["results"][0]
    assert [s["c0"] for s in ppo["ppo_c0_search"]] == [-300.0, 0.0, 300.0]
    assert ppo["initial_stocks"][0] in (-300.0, 0.0, 300.0)
    g = np.sort(ppo["returns"])
    assert ppo["value"] == pytest.approx(g[:1].mean())  # CVaR_0.1 of 4 returns: the worst 0.4 episode
    detan = runs["detan"]["results"][0]
    assert all(-300 <= c <= 300 for c in detan["initial_stocks"])  # DηN's learned search over the range


def test_continuous_lander_runs_detatqc_and_its_tqc_peer_only(bench, tmp_path):
    pytest.importorskip("Box2D", reason="LunarLander needs Box2D: pip install 'rdo[bench]'")
    jobs = bench.jobs_for(["lunar-continuous", "cartpole"], ["detan", "detatqc", "tqc", "ppo"], [0], 10, 2)
    # the discrete agents skip the continuous setting and the other way round; PPO serves both
    assert sorted((j.setting, j.agent) for j in jobs) == [
        ("cartpole", "detan"), ("cartpole", "ppo"), ("lunar-continuous", "detatqc"), ("lunar-continuous", "ppo"),
        ("lunar-continuous", "tqc")]
    assert bench.main(["--settings", "lunar-continuous", "--agents", "detatqc", "tqc", "--seeds", "1", "--steps",
                       "200", "--episodes", "3", "--out", str(tmp_path)]) == 0
    runs = {r["agent"]: r for r in map(json.loads, (tmp_path / "runs.jsonl").read_text().splitlines())}
    assert runs["tqc"]["train_objective"] == "mean" and runs["detatqc"]["train_objective"] == "cvar:0.1"
    for agent in ("detatqc", "tqc"):
        res = runs[agent]["results"][0]
        g = np.sort(res["returns"])
        assert res["objective"] == "cvar:0.1" and len(g) == 3
        assert res["value"] == pytest.approx(g[:1].mean())  # CVaR_0.1 of 3 returns: the worst one
    assert all(-300 <= c <= 300 for c in runs["detatqc"]["results"][0]["initial_stocks"])
    assert runs["tqc"]["results"][0]["initial_stocks"] == []
    assert "DηTQC" in (tmp_path / "table.md").read_text() and "vs tqc" in (tmp_path / "table.md").read_text()


def test_seed_interval_is_the_student_t_interval(bench):
    mean, low, high = bench.seed_interval([1.0, 2.0, 6.0])
    half = 4.303 * np.std([1.0, 2.0, 6.0], ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(3.0) and low == pytest.approx(3.0 - half) and high == pytest.approx(3.0 + half)
    assert math.isnan(bench.seed_interval([2.0])[1])


def _row(bench, agent, values, cis, objective="cvar:0.1", setting="lunar"):
    mean, low, high = bench.seed_interval(values)
    return {"setting": setting, "objective": objective, "agent": agent, "seeds": list(range(len(values))),
            "per_seed": [{"value": v, "ci95": ci, "initial_stocks": []} for v, ci in zip(values, cis, strict=True)],
            "mean": mean, "seed_ci95": [low, high]}


def test_verdicts_need_separate_intervals_and_three_seeds(bench):
    rows = [_row(bench, "detan", [-50.0], [[-60.0, -40.0]]), _row(bench, "qrdqn", [-90.0], [[-100.0, -70.0]]),
            _row(bench, "detan-naive", [-55.0], [[-70.0, -45.0]])]
    text = "\n".join(bench.verdicts(rows))
    assert "vs qrdqn -90.000: above, 95% CIs (over episodes) do not overlap (target met)" in text
    assert "vs detan-naive -55.000: above, 95% CIs overlap" in text and text.count("target met") == 1
    cart = [_row(bench, "detan", [4.0, 4.5], [[3, 5], [4, 5]], "target:100", "cartpole")]
    assert "NOT met (fewer than 3 seeds)" in bench.verdicts(cart)[0]
    cart = [_row(bench, "detan", [4.0, 4.5, 6.5], [[3, 5], [4, 5], [6, 7]], "target:100", "cartpole")]
    assert bench.verdicts(cart)[0].endswith("target <= 5: met")  # mean 5.0: 5% of 100 exactly
    cart = [_row(bench, "detan", [4.0, 4.5, 7.0], [[3, 5], [4, 5], [6, 7]], "target:100", "cartpole")]
    assert bench.verdicts(cart)[0].endswith("target <= 5: NOT met")


def test_bad_arguments_are_refused(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--settings", "cartpole", "--objectives", "cvar:0.1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0", "--out", str(tmp_path)])


def test_detan_search_adds_the_monte_carlo_c0_evaluation(bench, tmp_path):
    pytest.importorskip("Box2D", reason="LunarLander needs Box2D: pip install 'rdo[bench]'")
    assert bench.main(["--settings", "lunar", "--objectives", "cvar:0.1", "--agents", "detan", "qrdqn", "--seeds", "1",
                       "--steps", "256", "--episodes", "3", "--ppo-search", "3", "--search-episodes", "2",
                       "--detan-search", "--out", str(tmp_path)]) == 0
    runs = {r["agent"]: r for r in map(json.loads, (tmp_path / "runs.jsonl").read_text().splitlines())}
    assert runs["detan"]["job"]["detan_search"] and not runs["qrdqn"]["job"]["detan_search"]
    search = runs["detan"]["results"][0]["mc_search"]
    assert [c["c0"] for c in search["candidates"]] == [-300.0, 0.0, 300.0]  # the agent's range, 3 candidates
    best = max(search["candidates"], key=lambda c: c["value"])["c0"]
    assert search["c0"] == best and search["env_steps"] >= 3 * 2
    assert runs["qrdqn"]["results"][0]["mc_search"] is None
    table = (tmp_path / "table.md").read_text()
    assert "| lunar | `cvar:0.1` | detan (MC c0) |" in table and "(c0 search)" in table
    assert "DηN, c0 by Monte Carlo" in table
