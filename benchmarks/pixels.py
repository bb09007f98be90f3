"""DηN from pixels: a stock-augmented MinAtar game with `CnnPolicy`, a target-score objective.

The env is MinAtar Breakout (`MinAtar/Breakout-v1`, 10x10 pixels, 4 boolean channels, 3 actions;
one point per brick), made an SB3 image by [`MinAtarImage`][] (channel-last `uint8`, 0 or 255) and
stock-augmented by `rdo_gym.StockAugmentation(..., flatten=False)`, so that the observation is the
Dict `{"observation": image, "stock": (1,)}`. DηN's `CnnPolicy` runs a features extractor per
key: SB3's default NatureCNN needs images of at least 36x36, so for 10x10 pixels
[`SmallImageStockExtractor`][] (the MinAtar paper's network: one 3x3 convolution with 16 filters,
stride 1) reads the image and the stock is concatenated to its features.

The run trains DηN on `target:g` (initial stocks sampled on `[-2g, 0]` while training, so that the
network also serves other targets), evaluating `E|G - g|` at checkpoints: with a working stock the
mean absolute deviation from the target score falls as training proceeds.

    python benchmarks/pixels.py                         # 60k steps, target 5, checkpoints every 15k
    python benchmarks/pixels.py --steps 2000 --every 1000 --episodes 10     # a smoke run

Full-scale Atari on a GPU: `docs/learning.md`, "Pixels".
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

__all__ = ["MinAtarImage", "SmallImageStockExtractor", "TargetCurve", "make_minatar", "make_stock_minatar",
           "make_detan"]


class MinAtarImage(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """A boolean (or `[0, 1]` float) channel-last image as SB3's image type: `uint8`, 0 or 255.

    SB3 treats an observation as an image (normalized by 1/255 and transposed to channel-first for
    its CNNs) only when it is a 3-D `uint8` Box with bounds 0 and 255; MinAtar's observations are
    `bool` of shape `(10, 10, channels)`. Rewards are returned as Python floats (MinAtar returns
    numpy integers, which SB3's env checker refuses).
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 3:
            raise ValueError(f"MinAtarImage needs a channel-last 3-D Box observation, got {space}")
        self.observation_space = spaces.Box(0, 255, shape=space.shape, dtype=np.uint8)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float(reward), terminated, truncated, info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return (np.asarray(observation, dtype=np.float32) * 255.0).round().astype(np.uint8)


class SmallImageStockExtractor(BaseFeaturesExtractor):
    """Features of a Dict observation for images too small for NatureCNN (MinAtar's 10x10).

    Every image key goes through `Conv2d(channels, filters, 3, stride 1) -> ReLU -> Flatten` (the
    MinAtar paper's network), every other key (the stock) is flattened; the features are their
    concatenation. Images arrive channel-first and scaled to `[0, 1]` (SB3 transposes and
    normalizes `uint8` image spaces).

    Args:
        observation_space: the Dict space (as SB3 passes it: images channel-first).
        filters: convolution filters per image key.
    """

    def __init__(self, observation_space: spaces.Dict, filters: int = 16):
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(f"SmallImageStockExtractor needs a Dict observation space, got {observation_space}")
        extractors, size = {}, 0
        for key, sub in observation_space.spaces.items():
            if is_image_space(sub, check_channels=False):
                channels, height, width = sub.shape
                extractors[key] = th.nn.Sequential(th.nn.Conv2d(channels, filters, 3, stride=1), th.nn.ReLU(),
                                                   th.nn.Flatten())
                size += filters * (height - 2) * (width - 2)
            else:
                extractors[key] = th.nn.Flatten()
                size += int(np.prod(sub.shape))
        super().__init__(observation_space, features_dim=size)
        self.extractors = th.nn.ModuleDict(extractors)

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        return th.cat([net(observations[key]) for key, net in self.extractors.items()], dim=1)


def make_minatar(game: str = "Breakout", **kwargs) -> gym.Env:
    """`MinAtar/{game}-v1` (minimal action set) as a `uint8` image env. Needs `pip install minatar`."""
    import minatar.gym

    env_id = f"MinAtar/{game}-v1"
    if env_id not in gym.registry:
        minatar.gym.register_envs()
    return MinAtarImage(gym.make(env_id, **kwargs))


def make_stock_minatar(target: float, game: str = "Breakout", initial_stock=None, **kwargs):
    """The MinAtar image env with the stock: Dict `{"observation": image, "stock"}` (gamma 1, the
    stock scaled by `1 / target`); `c0` sampled on `[-2 target, 0]` unless given."""
    from rdo_gym import StockAugmentation, UniformStock

    if initial_stock is None:
        initial_stock = UniformStock(-2 * target, 0, integer=True)
    return StockAugmentation(make_minatar(game, **kwargs), gamma=1.0, initial_stock=initial_stock, flatten=False,
                             stock_scale=1.0 / target)


def make_detan(env, target: float, seed: int = 0, **overrides):
    """DηN with `CnnPolicy` and [`SmallImageStockExtractor`][] on `env`, acting on `target:{target}`
    (the MinAtar paper's DQN settings, scaled down for a short CPU run)."""
    from rdo_sb3 import DEtaN

    params = dict(learning_rate=2.5e-4, buffer_size=50_000, learning_starts=2_000, batch_size=32, train_freq=4,
                  gradient_steps=1, target_update_interval=1_000, exploration_fraction=0.25,
                  exploration_final_eps=0.05,
                  policy_kwargs=dict(features_extractor_class=SmallImageStockExtractor, net_arch=[128],
                                     n_quantiles=51))
    params.update(overrides)
    return DEtaN("CnnPolicy", env, objective=f"target:{target:g}", gamma=1.0, seed=seed, **params)


class TargetCurve(BaseCallback):
    """Evaluate `E|G - g|` by Monte Carlo every `every` env steps of training (and at the start)."""

    def __init__(self, target: float, game: str, every: int, episodes: int, seed: int):
        super().__init__()
        self.target, self.game, self.every, self.episodes, self.seed = target, game, every, episodes, seed
        self.curve: list[dict] = []
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def evaluate(self) -> None:
        from rdo_sb3 import evaluate_objective

        report = evaluate_objective(self.model, make_stock_minatar(self.target, self.game), self.episodes,
                                    seed=10_000 + self.seed, n_bootstrap=1000)
        point = {"steps": int(self.model.num_timesteps), "value": report.value, "ci95": list(report.ci),
                 "mean_score": float(report.returns.mean()), "wall_s": time.perf_counter() - self._wall,
                 "cpu_s": time.process_time() - self._cpu, "load_average": os.getloadavg()[0]}
        self.curve.append(point)
        print(f"{point['steps']:>7} steps: E|G - {self.target:g}| = {report.value:.2f} (95% CI {report.ci[0]:.2f} .. "
              f"{report.ci[1]:.2f}), mean score {point['mean_score']:.2f}; {point['wall_s']:.0f} s wall, "
              f"{point['cpu_s']:.0f} s CPU, load {point['load_average']:.1f}", flush=True)

    def _on_training_start(self) -> None:
        self.evaluate()

    def _on_step(self) -> bool:
        if self.model.num_timesteps % self.every == 0:
            self.evaluate()
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="SpaceInvaders")
    parser.add_argument("--target", type=float, default=10.0, help="the target score g of target:g")
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--every", type=int, default=15_000, help="env steps between evaluations")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the curve as JSON there")
    args = parser.parse_args(argv)
    for name, value in (("--steps", args.steps), ("--every", args.every), ("--episodes", args.episodes)):
        if value < 1:
            parser.error(f"{name} must be a positive integer, got {value}")
    if args.target <= 0:
        parser.error(f"--target must be a positive score, got {args.target}")
    th.set_num_threads(1)
    model = make_detan(make_stock_minatar(args.target, args.game), args.target, seed=args.seed)
    callback = TargetCurve(args.target, args.game, args.every, args.episodes, args.seed)
    model.learn(args.steps, callback=callback)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"game": args.game, "target": args.target, "seed": args.seed,
                                        "steps": args.steps, "curve": callback.curve}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
