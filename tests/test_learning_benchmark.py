"""benchmarks/learning.py --quick: the CI smoke run of the learning-quality benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import rdo_envs
from rdo_gym import make_objective
from rdo_gym.dp.lattice import reward_lattice
from rdo_gym.dp.solver import return_bounds

ROOT = Path(__file__).resolve().parents[1]


def _load_learning():
    spec = importlib.util.spec_from_file_location("rdo_learning_benchmark", ROOT / "benchmarks" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the process pool look the module up by name
    spec.loader.exec_module(module)
    return module


def test_quick_run_reports_scores_normalized_by_the_dp(tmp_path):
    learning = _load_learning()
    assert learning.main(["--quick", "--settings", "cvar0.1", "--agents", "detan", "qrdqn", "--steps", "1500",
                          "--episodes", "60", "--jobs", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert {r["agent"] for r in data["runs"]} == {"detan", "qrdqn"}
    ref = rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.1")
    mdp = rdo_envs.env_class("rdo/CVaRGrid-v0")().model
    lattice = reward_lattice(mdp)
    lo, _ = return_bounds(mdp, lattice)
    worst = lattice.step * lo[-1, mdp.initial > 0].min()
    for run in data["runs"]:
        (res,) = run["results"]
        returns = np.asarray(res["returns"])
        assert len(returns) == 60 and run["steps"] == 1500
        # The reported value is the objective's statistic of the Monte Carlo returns, normalized by
        # the exact references: recompute both independently.
        assert res["value"] == pytest.approx(make_objective("cvar:0.1").value(returns))
        assert res["normalized"] == pytest.approx((res["value"] - ref.risk_neutral) / (ref.optimum - ref.risk_neutral))
        # The exact value of the greedy policy (DP on the model) lies between the worst possible return
        # and the optimum; QR-DQN's stock-free greedy policy is scored the same way.
        assert worst - 1e-9 <= res["exact_value"] <= ref.optimum + 1e-9
        assert res["exact_normalized"] == pytest.approx(
            (res["exact_value"] - ref.risk_neutral) / (ref.optimum - ref.risk_neutral))
    assert "| cvar0.1 | detan |" in (tmp_path / "table.md").read_text()
    # --resume keeps the finished runs (runs.jsonl) and only trains missing ones: here none.
    log = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(log) == 2
    assert learning.main(["--quick", "--settings", "cvar0.1", "--agents", "detan", "--steps", "1500",
                          "--episodes", "60", "--jobs", "1", "--out", str(tmp_path), "--resume"]) == 0
    again = json.loads((tmp_path / "results.json").read_text())
    assert [r["agent"] for r in again["runs"]] == ["detan"]
    assert again["runs"][0]["results"][0]["returns"] == next(
        r for r in data["runs"] if r["agent"] == "detan")["results"][0]["returns"]


def test_figures_script_draws_every_benchmark_from_a_learning_run(tmp_path):
    learning = _load_learning()
    assert learning.main(["--quick", "--settings", "target", "--agents", "detan", "--steps", "600",
                          "--episodes", "20", "--jobs", "1", "--out", str(tmp_path)]) == 0
    spec = importlib.util.spec_from_file_location("rdo_figures", ROOT / "benchmarks" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    assert figures.main(["--runs", str(tmp_path), "--out", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["exact_cvargrid.png", "exact_homeostasis.png", "exact_targetgrid.png", "returns_targetgrid.png"]
    assert all((tmp_path / "figs" / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_set_overrides_a_preset_hyperparameter_and_keeps_variants_apart(tmp_path):
    learning = _load_learning()
    assert learning.parse_override("kappa=0") == ("kappa", 0)
    assert learning.parse_override("policy_kwargs={n_quantiles: 11, net_arch: [8]}") == \
        ("policy_kwargs", {"n_quantiles": 11, "net_arch": [8]})
    for bad in ("kappa", "gamma=0.9", "relabel_stocks=true", "2x=1"):
        with pytest.raises(Exception, match="KEY=VALUE"):
            learning.parse_override(bad)
    args = ["--settings", "homeostasis", "--agents", "detan", "qrdqn", "--seeds", "1", "--steps", "300",
            "--episodes", "20", "--jobs", "1", "--out", str(tmp_path), "--save-models"]
    assert learning.main([*args, "--set", "policy_kwargs={n_quantiles: 7, net_arch: [16]}"]) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    by_agent = {r["agent"]: r["job"]["overrides"] for r in runs}
    assert by_agent == {"detan": [["policy_kwargs", {"n_quantiles": 7, "net_arch": [16]}]], "qrdqn": []}
    from rdo_sb3 import DEtaN

    model = DEtaN.load(tmp_path / "models" / "homeostasis-detan-seed0.zip")
    assert model.policy.n_quantiles == 7  # the override reached the agent
    # --resume keeps runs apart by their overrides: the preset's own run is still missing, the variant's is not
    assert learning._job_key(runs[0]["job"]) != learning._job_key({**runs[0]["job"], "overrides": []})


def test_mc_search_chooses_c0_by_monte_carlo_and_counts_its_steps(tmp_path):
    learning = _load_learning()
    args = ["--settings", "meancvar0.1", "--agents", "detan", "qrdqn", "--seeds", "1", "--steps", "400",
            "--episodes", "30", "--jobs", "1", "--out", str(tmp_path), "--mc-search", "4", "--mc-shortlist", "3"]
    assert learning.main(args) == 0
    runs = {r["agent"]: r for r in (json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines())}
    assert runs["qrdqn"]["results"][0]["mc_search"] is None  # stock-free: nothing to search
    (res,) = runs["detan"]["results"]
    search = res["mc_search"]
    assert len(search["candidates"]) == 3 and len(search["values"]) == 3
    best = search["candidates"][int(np.argmax(search["values"]))]
    # the evaluation starts every episode at the Monte Carlo choice, and the exact value is the policy's from there
    assert search["initial_stock"] == best and res["initial_stocks"] == [best]
    assert search["env_steps"] >= 3 * 4  # at least one step per episode
    assert f"400 + {search['env_steps']} (c0 search)" in (tmp_path / "table.md").read_text()
    # kept apart from a learned-search run by --resume
    job = runs["detan"]["job"]
    assert learning._job_key(job) != learning._job_key({**job, "mc_search": [0, None]})
