"""DηN: QR-DQN on a stock-augmented env, acting on an objective of `stock + return`.

Paper: Ávila Pires et al., "Optimizing Return Distributions with Distributional Dynamic
Programming", JMLR 2025 (arXiv 2501.13028). Conventions: `docs/concepts.md`, `docs/agent.md`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import QRDQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from rdo_gym.objectives import Objective
from rdo_gym.stock import StockRange
from rdo_sb3.losses import check_kappa, check_method, quantile_huber_loss
from rdo_sb3.objective_agent import ObjectiveAgentMixin, check_policy_fits, hint_one_thread
from rdo_sb3.policies import CnnPolicy, DEtaNPolicy, MlpPolicy, MultiInputPolicy
from rdo_sb3.stock_range import AutoStockRange

__all__ = ["DEtaN"]

SelfDEtaN = TypeVar("SelfDEtaN", bound="DEtaN")

_THREAD_HINT_GIVEN = [False]


def _hint_one_thread(device: th.device, n_parameters: int) -> None:
    """Once per process: a hint that one torch thread is faster for a small network on a CPU."""
    hint_one_thread(device, n_parameters, _THREAD_HINT_GIVEN, stacklevel=4)


class DEtaN(ObjectiveAgentMixin, QRDQN):
    """DηN (the paper's DEtaN): QR-DQN that learns stock-conditioned return distributions and acts
    greedily on `score(s, c, a) = mean_i f(c + theta_i(s, c, a))` for the objective's utility `f`.

    The env must carry the stock ([`rdo_gym.StockAugmentation`][rdo_gym.stock.StockAugmentation]); the network sees it
    as part of the observation, and the agent reads where it is and how it is scaled from the wrapper's
    [`StockLayout`][rdo_gym.stock.StockLayout]. The quantiles are those of the return-to-go `G` (the stock is
    added only when the objective is applied). Acting, the bootstrap action of the target and the
    initial-stock choice all go through one [`Scorer`][rdo_sb3.scorers.Scorer]; the target uses the
    *next* stock read from the stored next observation: `r + gamma * theta(s', c', a*)`,
    `a* = argmax_a mean_i f(c' + theta_i(s', c', a))` with the target network, as in QR-DQN. Ties
    are broken uniformly at random. The arguments of sb3-contrib's `QRDQN` and their defaults are
    kept; below are those DηN adds or changes.

    Args:
        objective: an [`rdo_gym.Objective`][rdo_gym.objectives.Objective] or its string (`"cvar:0.1"`, `"target:5"`,
            `"prob:3"`, `"homeostasis:0"`, `"mean"`).
        gamma: the discount; `None` takes the env's `StockAugmentation` gamma. It must equal it.
        naive: the time-inconsistent baseline: ignore the stock and act on the objective's
            statistic of the return-to-go (e.g. its CVaR); the env need not carry a stock.
        relabel_stocks: probability that a replayed transition gets a fresh stock `c` drawn from
            `stock_range` (`True` = 0.5), with next stock `(c + r) / gamma` (`gamma^n` for
            n-step returns). Valid because the stock update is known.
        stock_range: `(low, high)` of unscaled stocks (or an [`rdo_gym.StockRange`][rdo_gym.stock.StockRange]) used for
            relabelling and for the CVaR initial-stock search; default: the support of the env's
            initial-stock sampler. `"auto"` (or an [`AutoStockRange`][rdo_sb3.stock_range.AutoStockRange] with
            its own margin and warm-up) estimates it from the discounted returns of the training episodes: at
            the end of the `learning_starts` phase it sets the range `[-b, -a]` for the returns `[a, b]` seen
            (with a margin), the env's initial-stock sampler on it and the env's stock scale, and widens the
            range when a later return leaves it; the estimate is `auto_stock_range`, saved with the model
            ([`rdo_sb3.stock_range`][rdo_sb3.stock_range]).
        tie_break: how actions whose scores tie exactly are told apart, in acting and in the
            bootstrap action alike: `"auto"` (the default: `"mean"` for a flat utility, i.e. `prob:`,
            else `"random"`), `"random"` (uniformly) or `"mean"` (by the mean of the return, then
            uniformly); none overrides the objective (`docs/agent.md`).
        kappa: the Huber threshold of the quantile loss, `>= 0` (`1.0`: QR-DQN's loss; `0`: the
            pure quantile loss); see [`rdo_sb3.losses.quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].
        return_step: `None` (the default), or the lattice `step * Z` the returns live on when gamma = 1
            and every reward is a multiple of `step` (FrozenLake, CliffWalking, Taxi: 1; Blackjack: 0.5).
            Scores then use the objective's
            [`lattice_utility`][rdo_gym.objectives.Objective.lattice_utility]: the same objective, with each
            learned quantile read as its nearest lattice point, so quantiles of an atom that miss it by less
            than half a step (a `prob:` threshold on the atom, the kink of `-|x|` or `min(x, 0)`) count as the
            atom (`docs/agent.md`). The mean objective is unchanged by it.
        loss_method: how the loss is computed, with the same value and gradient: `"auto"` (the
            default), `"sorted"` (`O((N + M) log M)` per sample) or `"pairwise"` (sb3-contrib's
            `batch x N x N` tensor); see [`rdo_sb3.losses.quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].

    Initial stocks: during training the env's sampler draws them; for evaluation
    [`choose_initial_stock`][rdo_sb3.detan.DEtaN.choose_initial_stock] gives the objective's own choice (fixed `c0`,
    or the CVaR outer search over `stock_candidates`), used by
    [`rdo_sb3.evaluate_objective`][rdo_sb3.evaluation.evaluate_objective].

    Examples:
        Any env, with the stock in a flat observation (CVaR searches `c0` on the sampler's range;
        train for about 100k steps to learn it, a few hundred here):

        >>> import gymnasium as gym
        >>> from rdo_gym import StockAugmentation, UniformStock
        >>> from rdo_sb3 import DEtaN, evaluate_objective
        >>> env = StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, initial_stock=UniformStock(-300, 0),
        ...                         stock_scale=0.01, flatten=True)
        >>> model = DEtaN("MlpPolicy", env, objective="cvar:0.1", learning_starts=100, seed=0,
        ...               policy_kwargs=dict(n_quantiles=16)).learn(300)
        >>> report = evaluate_objective(model, env, n_episodes=3, seed=0)
        >>> len(report.returns), bool(-300 <= report.initial_stocks[0] <= 0)
        (3, True)

        No stock range at hand: `stock_range="auto"` estimates it (and the stock scale) from the returns of
        the random-policy `learning_starts` steps, and widens it as the returns grow:

        >>> env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, flatten=True)
        >>> model = DEtaN("MlpPolicy", env, objective="cvar:0.1", stock_range="auto", learning_starts=200,
        ...               seed=0, policy_kwargs=dict(n_quantiles=16)).learn(300)
        >>> auto = model.auto_stock_range       # discounted returns of the warm-up in [10.5, 44.2], with a margin
        >>> auto.covered, model.stock_range.low, model.stock_range.high, model.stock_layout.scale
        ((2.0, 53.0), -53.0, -2.0, 0.01)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: DEtaNPolicy
    agent_name: ClassVar[str] = "DEtaN"

    def __init__(
        self,
        policy: str | type[DEtaNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 5e-5,
        buffer_size: int = 1000000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float | None = None,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 10000,
        exploration_fraction: float = 0.005,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.01,
        max_grad_norm: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
        *,
        objective: Objective | str = "mean",
        naive: bool = False,
        relabel_stocks: bool | float = False,
        stock_range: tuple[float, float] | StockRange | AutoStockRange | str | None = None,
        tie_break: str = "auto",
        kappa: float = 1.0,
        loss_method: str = "auto",
        return_step: float | None = None,
    ):
        self.kappa = check_kappa(kappa)
        self.loss_method = check_method(loss_method, "loss_method")
        env = self._init_objective(env, verbose, objective=objective, naive=naive, tie_break=tie_break,
                                   relabel_stocks=relabel_stocks, stock_range=stock_range, return_step=return_step)
        gamma = self._env_gamma(gamma)
        if env is not None:
            check_policy_fits(policy, env.observation_space)
        if policy == "CnnPolicy":  # a class, not the string: SB3 refuses the string on Dict spaces
            policy = CnnPolicy
        super().__init__(
            policy=policy, env=env, learning_rate=learning_rate, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, tau=tau, gamma=gamma,
            train_freq=train_freq, gradient_steps=gradient_steps, replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs, optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps, target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction, exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps, max_grad_norm=max_grad_norm,
            stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
            verbose=verbose, seed=seed, device=device, _init_setup_model=False,
        )
        if _init_setup_model:
            self._setup_model()

    def _check_action_space(self, action_space: spaces.Space) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"DEtaN needs a Discrete action space (it scores each action), got "
                             f"{action_space}; for a Box of continuous actions use rdo_sb3.DEtaTQC, or "
                             "discretize the actions")

    def _setup_model(self) -> None:
        self._check_env()
        super()._setup_model()
        self.policy.scorer = self.scorer
        _hint_one_thread(self.device, sum(p.numel() for p in self.policy.parameters()))

    def _scorer_changed(self) -> None:
        self.policy.scorer = self.scorer

    @classmethod
    def _foreign_loader(cls) -> str:
        return "sb3_contrib.QRDQN.load"

    # -- training ---------------------------------------------------------------------------------
    def target_quantiles(self, replay_data: Any) -> th.Tensor:
        """TD target `r + (1 - done) * gamma * theta_target(s', c', a*)`, shape `(batch, n_quantiles)`.

        `a*` maximizes the scorer's score at the next observation (hence the next stock).
        """
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with th.no_grad():
            next_quantiles = self.quantile_net_target(replay_data.next_observations)
            actions = self.policy.scorer.greedy_actions(next_quantiles, replay_data.next_observations)
            index = actions.view(-1, 1, 1).expand(-1, next_quantiles.shape[1], 1)
            next_quantiles = next_quantiles.gather(dim=2, index=index).squeeze(dim=2)
            return replay_data.rewards + (1 - replay_data.dones) * discounts * next_quantiles

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            if self.relabel_stocks > 0:
                replay_data = self.relabel(replay_data)
            target = self.target_quantiles(replay_data)
            current = self.quantile_net(replay_data.observations)
            actions = replay_data.actions[..., None].long().expand(batch_size, self.n_quantiles, 1)
            current = th.gather(current, dim=2, index=actions).squeeze(dim=2)
            loss = quantile_huber_loss(current, target, sum_over_quantiles=True, kappa=self.kappa,
                                       method=self.loss_method)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            if self.max_grad_norm is not None:
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))

    # -- initial stock and the objective's estimate -------------------------------------------------
    def quantiles(self, observation: Any) -> th.Tensor:
        """Learned quantiles `(batch, n_quantiles, n_actions)` of `G` for (a batch of) observations."""
        self.policy.set_training_mode(False)
        obs, _ = self.policy.obs_to_tensor(observation)
        with th.no_grad():
            return self.quantile_net(obs)

    def learn(self: SelfDEtaN, total_timesteps: int, callback: MaybeCallback = None, log_interval: int = 4,
              tb_log_name: str = "DEtaN", reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> SelfDEtaN:
        return super().learn(total_timesteps=total_timesteps, callback=callback, log_interval=log_interval,
                             tb_log_name=tb_log_name, reset_num_timesteps=reset_num_timesteps,
                             progress_bar=progress_bar)

