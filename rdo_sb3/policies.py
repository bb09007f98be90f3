"""DηN policies: sb3-contrib's QR-DQN policies whose greedy action goes through a Scorer.

The network is QR-DQN's: it takes the whole observation, which contains the stock, and outputs
`n_quantiles` quantiles of the return-to-go `G` per action (the stock is not added inside).
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.qrdqn.policies import QRDQNPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from rdo_sb3.scorers import Scorer

__all__ = ["DEtaNPolicy", "MlpPolicy", "CnnPolicy", "MultiInputPolicy"]


class DEtaNPolicy(QRDQNPolicy):
    """QR-DQN policy acting greedily on `mean_i f(c + theta_i(s, c, a))` (see [`rdo_sb3.scorers`][rdo_sb3.scorers]).

    Extra argument `scorer` (set by [`DEtaN`][rdo_sb3.detan.DEtaN], which owns it; saved with the policy
    so that `DEtaNPolicy.load` works standalone).
    """

    scorer: Scorer | None

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        n_quantiles: int = 200,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        scorer: Scorer | None = None,
    ):
        super().__init__(observation_space, action_space, lr_schedule, n_quantiles, net_arch, activation_fn,
                         features_extractor_class, features_extractor_kwargs, normalize_images,
                         optimizer_class, optimizer_kwargs)
        self.scorer = scorer

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        if self.scorer is None:
            raise RuntimeError("DEtaNPolicy has no objective: build it through rdo_sb3.DEtaN or pass "
                               "scorer=rdo_sb3.make_scorer(...)")
        return self.scorer.greedy_actions(self.quantile_net(obs), obs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "scorer": self.scorer}


MlpPolicy = DEtaNPolicy


class MultiInputPolicy(DEtaNPolicy):
    """DηN policy for Dict observations (`StockAugmentation(flatten=False)`): SB3's CombinedExtractor."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule,
                 *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
                 **kwargs: Any):
        super().__init__(observation_space, action_space, lr_schedule, *args,
                         features_extractor_class=features_extractor_class, **kwargs)


class CnnPolicy(MultiInputPolicy):
    """DηN policy for images with a stock, e.g. Atari.

    A stock-augmented image observation is a Dict `{"observation": image, "stock": (1,)}`, so this
    is [`MultiInputPolicy`][rdo_sb3.policies.MultiInputPolicy]: SB3's CombinedExtractor runs NatureCNN on the image
    key(s) and concatenates the stock before the quantile MLP.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule,
                 *args: Any, **kwargs: Any):
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(
                f"DEtaN's CnnPolicy needs the Dict observation {{image, stock}} of "
                f"StockAugmentation(env, flatten=False), got {observation_space}; an image cannot carry "
                "the stock in a flat Box. Use 'MultiInputPolicy' or 'CnnPolicy' on that Dict env")
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
