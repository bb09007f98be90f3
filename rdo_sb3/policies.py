"""DηN policies: sb3-contrib's QR-DQN policies whose greedy action goes through an ObjectiveHook.

The network is QR-DQN's: it takes the whole observation, which contains the stock, and outputs
``n_quantiles`` quantiles of the return-to-go ``G`` per action (the stock is not added inside).
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.qrdqn.policies import QRDQNPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from rdo_gym.objectives import Objective, make_objective
from rdo_sb3.objective_hook import ObjectiveHook
from rdo_sb3.stock_input import StockLocation

__all__ = ["DEtaNPolicy", "MlpPolicy", "CnnPolicy", "MultiInputPolicy"]


class DEtaNPolicy(QRDQNPolicy):
    """QR-DQN policy acting greedily on ``mean_i f(c + theta_i(s, c, a))`` (see ObjectiveHook).

    Extra arguments (set by :class:`~rdo_sb3.DEtaN`; saved with the policy so that
    ``DEtaNPolicy.load`` works standalone): ``objective``, ``stock_key``/``stock_index``,
    ``stock_scale`` and ``naive``.
    """

    hook: ObjectiveHook | None

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
        objective: Objective | str | None = None,
        stock_key: str | None = None,
        stock_index: int | None = None,
        stock_scale: float = 1.0,
        naive: bool = False,
    ):
        super().__init__(observation_space, action_space, lr_schedule, n_quantiles, net_arch, activation_fn,
                         features_extractor_class, features_extractor_kwargs, normalize_images,
                         optimizer_class, optimizer_kwargs)
        self.hook = None
        if objective is not None:
            location = None
            if stock_key is not None or stock_index is not None:
                location = StockLocation(stock_key, stock_index, float(stock_scale))
            self.configure(make_objective(objective), location, naive)

    def configure(self, objective: Objective, stock: StockLocation | None, naive: bool = False) -> None:
        """Set the objective and where the stock is (called by DEtaN after building the policy)."""
        self.hook = ObjectiveHook(objective, stock, naive)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        if self.hook is None:
            raise RuntimeError("DEtaNPolicy has no objective: build it through rdo_sb3.DEtaN or pass "
                               "objective=")
        return self.hook.greedy_actions(self.quantile_net(obs), obs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        if self.hook is not None:
            loc = self.hook.stock
            data.update(objective=self.hook.objective, naive=self.hook.naive,
                        stock_key=None if loc is None else loc.key,
                        stock_index=None if loc is None else loc.index,
                        stock_scale=1.0 if loc is None else loc.scale)
        return data


MlpPolicy = DEtaNPolicy


class MultiInputPolicy(DEtaNPolicy):
    """DηN policy for Dict observations (``StockAugmentation(flatten=False)``): SB3's CombinedExtractor."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule,
                 *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
                 **kwargs: Any):
        super().__init__(observation_space, action_space, lr_schedule, *args,
                         features_extractor_class=features_extractor_class, **kwargs)


class CnnPolicy(MultiInputPolicy):
    """DηN policy for images with a stock, e.g. Atari.

    A stock-augmented image observation is a Dict ``{"observation": image, "stock": (1,)}``, so this
    is :class:`MultiInputPolicy`: SB3's CombinedExtractor runs NatureCNN on the image key(s) and
    concatenates the stock before the quantile MLP.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule,
                 *args: Any, **kwargs: Any):
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(
                f"DEtaN's CnnPolicy needs the Dict observation {{image, stock}} of "
                f"StockAugmentation(env, flatten=False), got {observation_space}; an image cannot carry "
                "the stock in a flat Box. Use 'MultiInputPolicy' or 'CnnPolicy' on that Dict env")
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
