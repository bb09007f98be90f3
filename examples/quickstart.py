"""Quickstart: DηN trained for a target return on a benchmark, against its exact optimum.

Run:  python examples/quickstart.py        (about half a minute to a minute on one CPU core)

The code below this docstring is the README's Quickstart, line for line
(tests/test_examples.py checks that they are the same and runs it).
"""

import torch

import rdo_envs  # registers rdo/TargetGrid-v0, rdo/CVaRGrid-v0, rdo/Homeostasis-v0
from rdo_sb3 import evaluate_objective, make_model

torch.set_num_threads(1)  # the fastest setting for these small networks on a CPU

# Objective: end each episode with a return G as close to 4 as possible.
env_id, objective = "rdo/TargetGrid-v0", "target:4"
preset = rdo_envs.preset(env_id, "detan")  # tuned hyperparameters (51 quantiles, ...)
env = rdo_envs.make_stock_env(env_id)  # the stock in the observation, c0 sampled on a range
model = make_model(preset, env, objective=objective, seed=0)
model.learn(total_timesteps=20_000)  # a fifth of the preset's budget, preset.n_timesteps

eval_env = rdo_envs.make_stock_env(env_id, objective)  # every episode starts at c0 = -4
report = evaluate_objective(model, eval_env, n_episodes=500, seed=1)
ref = rdo_envs.reference(env_id, objective)  # exact, by distributional dynamic programming
lo, hi = report.ci
print(f"DηN, 20k steps      : E|G - 4| = {report.value:.3f}  (95% CI {lo:.3f} .. {hi:.3f})")
print(f"exact optimum (DP)  : E|G - 4| = {ref.optimum:.3f}")
print(f"risk-neutral policy : E|G - 4| = {ref.risk_neutral:.3f}  (maximal mean return)")
print(f"normalized score    : {ref.normalized(report.value):.2f}  (1 = optimum, 0 = risk-neutral)")
