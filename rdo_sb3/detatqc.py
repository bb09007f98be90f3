"""DηTQC: TQC on a stock-augmented env, its actor maximizing an objective of `stock + return`.

The continuous-action counterpart of [`DEtaN`][rdo_sb3.detan.DEtaN] (`docs/continuous.md`): sb3-contrib's TQC
learns quantiles of the return-to-go at `(s, c, a)` (the stock `c` is part of the observation, so the critics
see it); its actor, instead of maximizing the mean of those quantiles, maximizes the objective's value
`mean_i f(c + theta_i(s, c, pi(s, c)))`, averaged over all critics' atoms.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import TQC
from sb3_contrib.tqc.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, TQCPolicy
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import polyak_update

from rdo_gym.objectives import Objective, ProbabilityAtLeast
from rdo_gym.stock import StockRange
from rdo_sb3.losses import check_kappa, check_method, quantile_huber_loss
from rdo_sb3.objective_agent import ObjectiveAgentMixin, check_policy_fits, hint_one_thread

__all__ = ["DEtaTQC", "ENTROPY_MODES", "DEFAULT_SURROGATE_TEMPERATURE"]

SelfDEtaTQC = TypeVar("SelfDEtaTQC", bound="DEtaTQC")

ENTROPY_MODES = ("target", "actor")
"""Where DηTQC's entropy bonus enters: `"target"` (the default, as in TQC/SAC: in the actor loss and in every
target atom, so the critics learn the law of the soft return `G - ent_coef * sum_k gamma^k log pi`, whose
entropy term vanishes as `ent_coef` is tuned down) or `"actor"` (only in the actor's loss: the critics learn
the law of the return itself). Measured on `rdo/WealthGoal-v0` (`docs/continuous.md`): `"target"` 0.900 of
the optimum for `cvar:0.5` against 0.840 for `"actor"` (3 seeds), no difference for `prob:30`."""

DEFAULT_SURROGATE_TEMPERATURE = 0.02
"""The default temperature of the smooth indicator that replaces `1{x >= 0}` in the actor loss of a
probability objective, in units of `1 / stock_scale` (the scale at which the user put stocks near 1): 1 money
unit on `rdo/WealthGoal-v0` (stock_scale 0.02), where it measured 0.66 of the optimum against 0.48 at 5 units
and 0.14 at 20 (`docs/continuous.md`)."""

_THREAD_HINT_GIVEN = [False]


def _check_entropy(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in ENTROPY_MODES:
        raise ValueError(f"entropy_in must be one of {', '.join(map(repr, ENTROPY_MODES))}, got {mode!r}")
    return mode


def _check_temperature(value: Any) -> float | None:
    if value is None:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if isinstance(value, bool) or not (0.0 < t < math.inf):
        raise ValueError(f"surrogate_temperature must be a finite number > 0 (in units of the return) or None "
                         f"(DEFAULT_SURROGATE_TEMPERATURE / stock_scale), got {value!r}")
    return t


class DEtaTQC(ObjectiveAgentMixin, TQC):
    """DηTQC: TQC whose critics learn stock-conditioned return distributions and whose actor maximizes
    the objective `score(s, c, a) = mean_i f(c + theta_i(s, c, a))` at `a = pi(s, c)`.

    The env must carry the stock ([`rdo_gym.StockAugmentation`][rdo_gym.stock.StockAugmentation]) and have a `Box`
    action space ([`DEtaN`][rdo_sb3.detan.DEtaN] is the agent for `Discrete` ones). The critics learn quantiles of
    the return-to-go `G` at `(s, c, a)`; the target is `r + gamma * theta_target(s', c', a')` with `a' ~ pi(s', c')`
    and the next stock `c'` read from the stored next observation, with TQC's pooled, sorted atoms of all critics.
    The actor loss is `ent_coef * log pi(a|s, c) - sign * value_from_utility(c, mean_i f(c + theta_i(s, c, a)))`,
    `a ~ pi(s, c)` reparametrized, the mean taken over the atoms of all critics: the objective's own value (for
    CVaR `-c + E[min(c + G, 0)] / alpha`, for a target `-E|c + G|`; `sign` makes higher better), which varies with
    the action as the learned expected utility does and is in the units of the return, as TQC's mean is. Relabelled
    stocks ([`relabel`][rdo_sb3.objective_agent.ObjectiveAgentMixin.relabel]) rewrite the stock of the observation
    and of the next observation together (`c' = (c + r) / gamma`), so the critic, the target and the actor all see
    the relabelled stock. The arguments of sb3-contrib's `TQC` and their defaults are kept, except those below.

    Three choices concern the distribution the objective reads; each was decided by measurement
    (`docs/continuous.md`):

    * the entropy bonus enters as in TQC (`entropy_in="target"`): `ent_coef * log pi` is subtracted from every
      target atom, which shifts the learned distribution by the (small, tuned-down) soft bonus; keeping it out
      of the target (`"actor"`) measured worse for CVaR;
    * no truncation of the top quantiles (`top_quantiles_to_drop_per_net=0`, TQC: 2): dropping the top atoms
      of the target biases the learned distribution downwards, which moves CVaR's initial stock and every
      threshold;
    * for a probability objective (`prob:`, `f(x) = 1{x >= 0}`, whose gradient is zero almost everywhere) the
      actor loss uses the smooth indicator `sigmoid(x / T)` with `T = surrogate_temperature`; the critics,
      the initial stock and the reported values keep the exact indicator.

    Args:
        objective: an [`rdo_gym.Objective`][rdo_gym.objectives.Objective] or its string (`"cvar:0.1"`,
            `"target:5"`, `"prob:3"`, `"homeostasis:0"`, `"mean"`). Its utility must be differentiable almost
            everywhere with a useful gradient (all of rdo's are, `prob:` through the surrogate).
        gamma: the discount; `None` takes the env's `StockAugmentation` gamma. It must equal it.
        relabel_stocks: probability that a replayed transition gets a fresh stock `c` drawn from `stock_range`
            (`True` = 0.5), with next stock `(c + r) / gamma` (`gamma^n` for n-step returns).
        stock_range: `(low, high)` of unscaled stocks (or an [`rdo_gym.StockRange`][rdo_gym.stock.StockRange]) for
            relabelling and the CVaR initial-stock search; default: the support of the env's initial-stock sampler.
        top_quantiles_to_drop_per_net: TQC's truncation of the pooled target atoms (default 0 here, 2 in TQC).
        entropy_in: `"target"` (default, TQC's) or `"actor"`, see `ENTROPY_MODES`.
        surrogate_temperature: `T` of the smooth indicator of `prob:` objectives, in units of the return;
            `None`: `DEFAULT_SURROGATE_TEMPERATURE / stock_scale`.
        kappa: the Huber threshold of the critics' quantile loss, `>= 0` (`1.0`: TQC's loss).
        loss_method: `"auto"`, `"sorted"` or `"pairwise"`, see
            [`rdo_sb3.losses.quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].

    `naive=True` (the stock-free baseline of DηN) is not offered: sb3-contrib's `TQC` on
    [`rdo_gym.TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] is the continuous-action
    baseline. For evaluation, [`choose_initial_stock`][rdo_sb3.objective_agent.ObjectiveAgentMixin.choose_initial_stock]
    gives the objective's `c0` (fixed, or the CVaR search), used by
    [`rdo_sb3.evaluate_objective`][rdo_sb3.evaluation.evaluate_objective].

    Examples:
        Pendulum with a stock (a few hundred steps here; thousands to learn it):

        >>> import gymnasium as gym
        >>> from rdo_gym import StockAugmentation, UniformStock
        >>> from rdo_sb3 import DEtaTQC, evaluate_objective
        >>> env = StockAugmentation(gym.make("Pendulum-v1", max_episode_steps=50), gamma=1.0,
        ...                         initial_stock=UniformStock(0, 400), stock_scale=0.005, flatten=True)
        >>> model = DEtaTQC("MlpPolicy", env, objective="cvar:0.25", learning_starts=100, seed=0,
        ...                 policy_kwargs=dict(net_arch=[64, 64], n_quantiles=10)).learn(200)
        >>> report = evaluate_objective(model, env, n_episodes=2, seed=0)
        >>> len(report.returns), bool(0 <= report.initial_stocks[0] <= 400)
        (2, True)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: TQCPolicy
    agent_name: ClassVar[str] = "DEtaTQC"

    def __init__(
        self,
        policy: str | type[TQCPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1000000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float | None = None,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        top_quantiles_to_drop_per_net: int = 0,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
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
        stock_range: tuple[float, float] | StockRange | None = None,
        entropy_in: str = "target",
        surrogate_temperature: float | None = None,
        kappa: float = 1.0,
        loss_method: str = "auto",
    ):
        if naive:
            raise ValueError("DEtaTQC has no naive mode (naive=True): for the stock-free baseline train "
                             "sb3_contrib.TQC on the env wrapped in rdo_gym.TerminalObjectiveReward")
        self.kappa = check_kappa(kappa)
        self.loss_method = check_method(loss_method, "loss_method")
        self.entropy_in = _check_entropy(entropy_in)
        self.surrogate_temperature = _check_temperature(surrogate_temperature)
        if isinstance(top_quantiles_to_drop_per_net, bool) or not isinstance(
                top_quantiles_to_drop_per_net, int | np.integer) or top_quantiles_to_drop_per_net < 0:
            raise ValueError(f"top_quantiles_to_drop_per_net must be an integer >= 0, got "
                             f"{top_quantiles_to_drop_per_net!r}")
        env = self._init_objective(env, verbose, objective=objective, naive=False, tie_break="random",
                                   relabel_stocks=relabel_stocks, stock_range=stock_range)
        gamma = self._env_gamma(gamma)
        if env is not None:
            check_policy_fits(policy, env.observation_space)
        super().__init__(
            policy=policy, env=env, learning_rate=learning_rate, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, tau=tau, gamma=gamma, train_freq=train_freq,
            gradient_steps=gradient_steps, action_noise=action_noise, replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs, optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps, ent_coef=ent_coef, target_update_interval=target_update_interval,
            target_entropy=target_entropy, top_quantiles_to_drop_per_net=int(top_quantiles_to_drop_per_net),
            use_sde=use_sde, sde_sample_freq=sde_sample_freq, use_sde_at_warmup=use_sde_at_warmup,
            stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
            verbose=verbose, seed=seed, device=device, _init_setup_model=False,
        )
        if _init_setup_model:
            self._setup_model()

    def _check_action_space(self, action_space: spaces.Space) -> None:
        if isinstance(action_space, spaces.Discrete):
            raise ValueError(f"DEtaTQC needs a Box of continuous actions, got the Discrete {action_space}: use "
                             "rdo_sb3.DEtaN, which scores each discrete action")
        if not isinstance(action_space, spaces.Box):
            raise ValueError(f"DEtaTQC needs a Box of continuous actions, got {action_space}")

    def _setup_model(self) -> None:
        self._check_env()
        super()._setup_model()
        total = self.policy.critic.quantiles_total
        if self.top_quantiles_to_drop_per_net * self.policy.critic.n_critics >= total:
            raise ValueError(f"top_quantiles_to_drop_per_net={self.top_quantiles_to_drop_per_net} drops every "
                             f"target atom ({self.policy.critic.n_critics} critics x "
                             f"{self.policy.critic.n_quantiles} quantiles); use fewer than n_quantiles")
        hint_one_thread(self.device, sum(p.numel() for p in self.policy.parameters()), _THREAD_HINT_GIVEN,
                        stacklevel=4)

    @classmethod
    def _foreign_loader(cls) -> str:
        return "sb3_contrib.TQC.load"

    # -- the objective the actor maximizes ------------------------------------------------------------
    @property
    def actor_temperature(self) -> float | None:
        """`T` of the smooth indicator used in the actor loss (`None` when the objective needs none)."""
        if not isinstance(self.objective, ProbabilityAtLeast):
            return None
        if self.surrogate_temperature is not None:
            return self.surrogate_temperature
        assert self.stock_layout is not None
        return DEFAULT_SURROGATE_TEMPERATURE / self.stock_layout.scale

    def actor_score(self, quantiles: th.Tensor, observations: Any) -> th.Tensor:
        """What the actor maximizes, per sample `(batch,)`, from the critics' quantiles `(batch, n_critics,
        n_quantiles)` at the observations' stocks: `sign * value_from_utility(c, mean_i f(c + theta_i))`
        (higher is better), with the smooth indicator for `prob:` objectives. Differentiable in `quantiles`."""
        assert self.stock_layout is not None
        obj = self.objective
        stocks = self.stock_layout.read(observations).to(quantiles.dtype).view(-1, 1)
        x = quantiles.reshape(quantiles.shape[0], -1) + stocks
        temperature = self.actor_temperature
        if temperature is not None:
            utility = th.sigmoid((x + obj.tolerance) / temperature).mean(1)  # type: ignore[attr-defined]
        else:
            utility = obj.utility(x).mean(1)
        value = obj.value_from_utility(stocks.view(-1), utility)
        return value if obj.higher_is_better else -value

    def target_quantiles(self, replay_data: Any, ent_coef: th.Tensor) -> th.Tensor:
        """TD target `(batch, 1, n_target_atoms)`: `r + (1 - done) * gamma * sorted(theta_target(s', c', a'))`,
        `a' ~ pi(s', c')`, with the top `top_quantiles_to_drop_per_net * n_critics` atoms dropped, and minus
        `ent_coef * log pi(a'|s', c')` in every atom when `entropy_in="target"`."""
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
            next_quantiles = self.critic_target(replay_data.next_observations, next_actions)
            batch = next_quantiles.shape[0]
            next_quantiles = next_quantiles.reshape(batch, -1)
            n_drop = self.top_quantiles_to_drop_per_net * self.critic.n_critics
            if n_drop > 0:
                next_quantiles = th.sort(next_quantiles, dim=1).values[:, : next_quantiles.shape[1] - n_drop]
            if self.entropy_in == "target":
                next_quantiles = next_quantiles - ent_coef * next_log_prob.reshape(-1, 1)
            target = replay_data.rewards + (1 - replay_data.dones) * discounts * next_quantiles
            return target.unsqueeze(1)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)
        ent_coef_losses, ent_coefs, actor_losses, critic_losses, scores = [], [], [], [], []
        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            if self.relabel_stocks > 0:
                replay_data = self.relabel(replay_data)
            if self.use_sde:
                self.actor.reset_noise()
            actions_pi, log_prob = self.actor.action_log_prob(replay_data.observations)
            log_prob = log_prob.reshape(-1, 1)
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.item())

            target = self.target_quantiles(replay_data, ent_coef)
            current = self.critic(replay_data.observations, replay_data.actions)
            critic_loss = quantile_huber_loss(current, target, sum_over_quantiles=False, kappa=self.kappa,
                                              method=self.loss_method)
            critic_losses.append(critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            score = self.actor_score(self.critic(replay_data.observations, actions_pi), replay_data.observations)
            actor_loss = (ent_coef * log_prob.view(-1) - score).mean()
            actor_losses.append(actor_loss.item())
            scores.append(score.mean().item())
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        self.logger.record("train/actor_score", np.mean(scores))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))

    # -- the learned distribution, for the initial-stock choice -----------------------------------------
    def quantiles(self, observation: Any) -> th.Tensor:
        """The critics' quantiles of `G` at the actor's deterministic action, `(batch, n_critics * n_quantiles,
        1)` (one "action": the scorer's max over actions is the policy's), for (a batch of) observations."""
        self.policy.set_training_mode(False)
        obs, _ = self.policy.obs_to_tensor(observation)
        with th.no_grad():
            actions = self.actor(obs, deterministic=True)
            q = self.critic(obs, actions)
        return q.reshape(q.shape[0], -1, 1)

    def learn(self: SelfDEtaTQC, total_timesteps: int, callback: MaybeCallback = None, log_interval: int = 4,
              tb_log_name: str = "DEtaTQC", reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> SelfDEtaTQC:
        return super().learn(total_timesteps=total_timesteps, callback=callback, log_interval=log_interval,
                             tb_log_name=tb_log_name, reset_num_timesteps=reset_num_timesteps,
                             progress_bar=progress_bar)
