"""The README's demo and the examples run as scripts and print the figures they promise.

Each example runs in its ``--quick`` mode (a few thousand training steps at most) in a subprocess;
the tests check the exact references it prints against ``rdo_envs.reference`` / ``rdo_gym.dp``
and that the agent's figures are present and finite (not that a quick agent is good).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"([+-]?\d+(?:\.\d+)?|nan|[+-]?inf)"


def run_example(name: str, *args: str, timeout: float = 240) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def finite_numbers(pattern: str, out: str) -> list[float]:
    """The numbers captured by ``pattern`` on every matching line; at least one line must match."""
    matches = re.findall(pattern, out)
    assert matches, f"no line matches {pattern!r} in:\n{out}"
    values = [float(m) for group in matches for m in (group if isinstance(group, tuple) else (group,))]
    assert all(math.isfinite(v) for v in values), f"non-finite figure for {pattern!r}: {values}"
    return values


def readme_block(heading: str, language: str = "python") -> str:
    """The first fenced ``language`` block of README.md's section ``## heading``."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no {language} block in the README section {heading!r}"
    return match.group(1)


def test_readme_quickstart_is_examples_quickstart():
    """The README's Quickstart is examples/quickstart.py below its docstring, line for line."""
    script = (ROOT / "examples" / "quickstart.py").read_text()
    body = script.split('"""', 2)[2].strip("\n") + "\n"
    assert readme_block("Quickstart") == body, "README.md's Quickstart and examples/quickstart.py differ"


def test_readme_quickstart_runs_and_reports_the_exact_optimum():
    """The README's Quickstart, with fewer training steps and episodes, prints the labelled results."""
    import rdo_envs

    code = readme_block("Quickstart")
    short = code.replace("model.learn(total_timesteps=20_000)", "model.learn(total_timesteps=1_500)")
    short = short.replace("n_episodes=500", "n_episodes=30")
    assert short.count("1_500") == 1 and "n_episodes=30" in short, "the Quickstart's step/episode counts moved"
    proc = subprocess.run([sys.executable, "-c", short], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, f"the README Quickstart failed:\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    ref = rdo_envs.reference("rdo/TargetGrid-v0", "target:4")
    assert f"exact optimum (DP)  : E|G - 4| = {ref.optimum:.3f}" in out
    assert f"risk-neutral policy : E|G - 4| = {ref.risk_neutral:.3f}" in out
    value, low, high = finite_numbers(r"DηN, 20k steps\s+: E\|G - 4\| = " + NUMBER + r"\s+\(95% CI "
                                      + NUMBER + r" \.\. " + NUMBER + r"\)", out)
    assert value >= 0 and low <= value <= high
    (score,) = finite_numbers(r"normalized score\s+: " + NUMBER, out)
    assert math.isclose(score, ref.normalized(value), abs_tol=0.01)


def test_readme_own_env_snippet_runs():
    """The README's "Your own Gymnasium env" snippet (CartPole, target:100), with fewer steps."""
    code = readme_block("Your own Gymnasium env")
    short = code.replace("model.learn(total_timesteps=40_000)", "model.learn(total_timesteps=1_200)")
    short = short.replace("n_episodes=200", "n_episodes=5")
    assert "1_200" in short and "n_episodes=5" in short, "the snippet's step/episode counts moved"
    proc = subprocess.run([sys.executable, "-c", short], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, f"the README snippet failed:\n{proc.stdout}\n{proc.stderr}"
    (value, low, high) = finite_numbers(r"E\|G - 100\| = " + NUMBER + r" \(95% CI " + NUMBER + r" \.\. " + NUMBER,
                                        proc.stdout)
    assert 0 <= value <= 500 and low <= value <= high


def test_frozenlake_dp_prints_the_exact_goal_probabilities_and_cvar():
    from rdo_gym.dp import TabularMDP, risk_neutral_policy, solve

    out = run_example("frozenlake_dp.py", "--quick", timeout=120)
    env = gym.make("FrozenLake-v1")
    mdp = TabularMDP.from_gymnasium(env, horizon=20)
    optimum = solve(mdp, "prob:1").value
    # Computed independently: the value iteration answer without a time limit, on 20 steps.
    stationary = risk_neutral_policy(TabularMDP.from_gymnasium(env))
    from rdo_gym.dp import evaluate

    base = evaluate(mdp, stationary.table, "prob:1").value
    row = re.search(r"^\s+20\s+" + NUMBER + r"\s+" + NUMBER + r"\s+" + NUMBER, out, re.MULTILINE)
    assert row, out
    assert row.group(1) == f"{optimum:.4f}" and row.group(2) == f"{base:.4f}"
    assert optimum >= base  # the horizon-aware optimum is never worse than the stationary policy
    # The action map has the 4x4 layout: holes and goal where the map puts them.
    assert "< H < H" in out and "H > v G" in out
    # CVaR_0.25 with the hole penalty: staying away from the holes gives 0; risk-neutral is worse.
    cvar = re.search(r"cvar:0.25\s+" + NUMBER + r"\s+" + NUMBER + r"\s+" + NUMBER, out)
    assert cvar, out
    assert float(cvar.group(1)) == 0.0 and float(cvar.group(3)) < -0.5


def test_cvar_gridworld_prints_the_dp_references_and_a_finite_score():
    import rdo_envs

    out = run_example("cvar_gridworld.py", "--quick")
    ref = rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.1")
    assert (f"optimum {ref.optimum:.4f} (c0* = {ref.initial_stock:g}), risk-neutral policy {ref.risk_neutral:.4f}, "
            f"naive stock-free CVaR policy {ref.naive:.4f}") in out
    value, score = finite_numbers(r"agent's own c0 \(chosen [^)]*\): CVaR " + NUMBER + r" .*normalized score "
                                  + NUMBER, out)
    assert math.isclose(score, (value - ref.risk_neutral) / (ref.optimum - ref.risk_neutral), abs_tol=2e-3)
    finite_numbers(r"at the DP's c0\* = 3: CVaR " + NUMBER, out)
    naive = (ref.naive - ref.risk_neutral) / (ref.optimum - ref.risk_neutral)
    assert f"naive CVaR policy {naive:.3f}" in out


def test_homeostasis_prints_both_objectives_against_the_dp():
    import rdo_envs

    out = run_example("homeostasis.py", "--quick")
    for spec in rdo_envs.benchmark_info("rdo/Homeostasis-v0").default_objectives:
        ref = rdo_envs.reference("rdo/Homeostasis-v0", spec)
        line = re.search(rf"{spec}: agent {NUMBER} .*DP optimum {ref.optimum:.4f}, risk-neutral "
                         rf"{ref.risk_neutral:.4f}, normalized score {NUMBER}", out)
        assert line, f"{spec} line missing:\n{out}"
        value, score = float(line.group(1)), float(line.group(2))
        assert value >= 0 and math.isfinite(score)  # a mean absolute deviation
        assert math.isclose(score, (ref.risk_neutral - value) / (ref.risk_neutral - ref.optimum), abs_tol=2e-3)


def test_ppo_terminal_reward_prints_the_dp_optimum_and_ppo_figures():
    import numpy as np

    import rdo_envs
    from rdo_gym.dp import solve

    out = run_example("ppo_terminal_reward.py", "--quick")
    ref = rdo_envs.reference("rdo/TargetGrid-v0", "target:4")
    assert f"optimum {ref.optimum:.4f}, risk-neutral policy {ref.risk_neutral:.4f}" in out
    atoms, probs = solve(gym.make("rdo/TargetGrid-v0").unwrapped.model, "target:4").return_distribution
    assert f"DP optimum        : E|G - 4| {ref.optimum:.4f}, P(G = 4) {probs[atoms == 4].sum():.3f}" in out
    for kind in ("deterministic", "stochastic"):
        value, _, p4, _ = finite_numbers(rf"PPO\s+{kind}: E\|G - 4\| {NUMBER} \+- {NUMBER}, P\(G = 4\) {NUMBER}, "
                                         rf"normalized score {NUMBER}", out)
        assert value >= 0 and 0 <= p4 <= 1
    # Every histogram sums to 1 (it covers the returns -2..10 and the rest).
    for hist in re.findall(r"P\(G\): (.*)", out):
        assert np.isclose(sum(float(part.split(":")[1]) for part in hist.split()), 1.0, atol=0.03), hist


def test_cartpole_target_return_prints_the_agent_and_the_random_baseline():
    out = run_example("cartpole_target_return.py", "--quick")
    (random_err,) = finite_numbers(r"random policy\s+: mean \|G - 100\| " + NUMBER, out)
    assert random_err > 50  # a random policy drops the pole after ~20 steps
    err, low, high, mean_g = finite_numbers(r"DEtaN target:100 : mean \|G - 100\| " + NUMBER + r" \(95% CI "
                                            + NUMBER + r" \.\. " + NUMBER + r"\), mean G " + NUMBER, out)
    assert low <= err <= high and 0 < mean_g <= 500
