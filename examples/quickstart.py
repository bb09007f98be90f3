"""rdo quickstart: objectives, stock augmentation, a terminal-reward wrapper and exact DP.

Run:  python examples/quickstart.py
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rdo_gym import CVaR, StockAugmentation, TerminalObjectiveReward, UniformStock, make_objective


def main() -> None:
    # 1. Objectives: one definition each, with a string form for configs and command lines.
    returns = np.array([-10.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    for spec in ["mean", "cvar:0.1", "cvar:0.25", "target:5", "prob:3"]:
        objective = make_objective(spec)
        print(f"{spec:10s} -> {objective.value(returns):7.3f}   (higher is better: {objective.higher_is_better})")
    # CVaR's reduction: max_c -c + E[min(c + G, 0)] / alpha equals the lower-tail mean.
    cvar = CVaR(0.25)
    candidates = -returns
    index, value = cvar.select_initial_stock(candidates, cvar.score(candidates, returns[None, :]))
    print(f"CVaR_0.25 via the stock search: {value:.3f} at c0* = {candidates[index]:g}")

    # 2. Stock augmentation of CartPole: the observation carries C_t, info carries c0 + G so far.
    env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, initial_stock=UniformStock(-5, 5),
                            flatten=True, stock_scale=0.1)
    obs, info = env.reset(seed=0)
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    print(f"CartPole: c0={info['initial_stock']:.3f}, discounted return={info['discounted_return']:.3f}, "
          f"final stock C_T={info['stock']:.3f}, gamma^T C_T={env.stock_times_discount:.3f}")

    # 3. Reward design: any SB3 agent can optimize P(G >= 0.5) on FrozenLake with this env.
    lake = TerminalObjectiveReward(
        StockAugmentation(gym.make("FrozenLake-v1"), gamma=1.0, initial_stock=-0.5), "prob:0.5")
    successes, episodes = 0.0, 200
    for episode in range(episodes):
        lake.reset(seed=0 if episode == 0 else None)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = lake.step(lake.action_space.sample())
            done = terminated or truncated
        successes += reward
    print(f"FrozenLake, random policy: P(G >= 0.5) ~ {successes / episodes:.3f} (terminal reward = 1{{c0 + G >= 0}})")

    # 4. Exact distributional DP: the true optimum of a registered benchmark, against the baselines.
    import rdo_envs
    from rdo_gym.dp import TabularMDP, solve

    for alpha in (0.1, 0.25):
        ref = rdo_envs.reference("rdo/CVaRGrid-v0", f"cvar:{alpha}")
        print(f"CVaRGrid CVaR_{alpha}: optimum {ref.optimum:.3f} (c0* = {ref.initial_stock:g}), "
              f"risk-neutral policy {ref.risk_neutral:.3f}, naive stock-free CVaR policy {ref.naive:.3f}")
    lake_model = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"), horizon=100)
    print(f"FrozenLake, optimal P(reach the goal within 100 steps) = {solve(lake_model, 'prob:1').value:.4f}")


if __name__ == "__main__":
    main()
