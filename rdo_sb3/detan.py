"""DηN: QR-DQN on a stock-augmented env, acting on an objective of `stock + return`.

Paper: Ávila Pires et al., "Optimizing Return Distributions with Distributional Dynamic
Programming", JMLR 2025 (arXiv 2501.13028). Conventions: `docs/concepts.md`, `docs/agent.md`.
"""

from __future__ import annotations

import json
import math
import pathlib
import warnings
import zipfile
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import QRDQN
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule

from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockLayout, StockRange
from rdo_sb3.losses import check_kappa, check_method, quantile_huber_loss
from rdo_sb3.policies import CnnPolicy, DEtaNPolicy, MlpPolicy, MultiInputPolicy
from rdo_sb3.scorers import NaiveScorer, Scorer, check_tie_break, make_scorer
from rdo_sb3.stock_input import WRAP_HINT, read_stock_layout, write_stocks

__all__ = ["DEtaN"]

SelfDEtaN = TypeVar("SelfDEtaN", bound="DEtaN")


def _relabel_probability(relabel_stocks: bool | float) -> float:
    if isinstance(relabel_stocks, bool):
        return 0.5 if relabel_stocks else 0.0
    try:
        p = float(relabel_stocks)
    except (TypeError, ValueError):
        p = math.nan
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"relabel_stocks must be a bool or a probability in [0, 1], got {relabel_stocks!r}")
    return p


def _check_range(stock_range: Any) -> StockRange | None:
    if stock_range is None:
        return None
    try:
        return StockRange.of(stock_range)
    except ValueError:
        raise ValueError(f"stock_range must be a pair (low, high) of finite numbers with low <= high, or an "
                         f"rdo_gym.StockRange, got {stock_range!r}") from None


def _check_policy_fits(policy: Any, space: spaces.Space) -> None:
    """A clear error, with the fix, for the two policy/observation mix-ups SB3 reports obscurely."""
    name = policy if isinstance(policy, str) else getattr(policy, "__name__", "")
    if name == "MultiInputPolicy" and not isinstance(space, spaces.Dict):
        raise ValueError(f"'MultiInputPolicy' needs a Dict observation, got {space}: use 'MlpPolicy' with "
                         "StockAugmentation(flatten=True), or StockAugmentation(flatten=False) for a Dict")
    if name == "MlpPolicy" and isinstance(space, spaces.Dict):
        raise ValueError(f"'MlpPolicy' needs a flat Box observation, got the Dict {space}: use "
                         "'MultiInputPolicy', or StockAugmentation(..., flatten=True) for a flat Box")


_SMALL_NETWORK = 1_000_000  # parameters: below this, intra-op threads cost more than they give on a CPU
_THREAD_HINT_GIVEN = [False]


def _hint_one_thread(device: th.device, n_parameters: int) -> None:
    """Once per process: a hint that one torch thread is faster for a small network on a CPU."""
    threads = th.get_num_threads()
    if _THREAD_HINT_GIVEN[0] or device.type != "cpu" or threads == 1 or n_parameters >= _SMALL_NETWORK:
        return
    _THREAD_HINT_GIVEN[0] = True
    warnings.warn(f"torch runs on {threads} CPU threads, but this network is small ({n_parameters:,} parameters): "
                  "one thread is usually faster and leaves the cores to the envs. Call torch.set_num_threads(1) "
                  "before training (the rdo command line does so by default)", stacklevel=4)


def _zip_data(path: Any) -> tuple[Any, dict[str, Any]]:
    """The path of a saved model and the JSON `data` of its zip, with clear errors."""
    if isinstance(path, (str, pathlib.Path)):
        path = pathlib.Path(path)
        if not path.exists() and path.suffix != ".zip" and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")
        if not path.exists():
            raise FileNotFoundError(f"no saved DEtaN model at {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError) as err:
        raise ValueError(f"{path!r} is not a complete model zip written by DEtaN.save ({err})") from None
    return path, data


class DEtaN(QRDQN):
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
            initial-stock sampler.
        tie_break: how actions whose scores tie exactly are told apart, in acting and in the
            bootstrap action alike: `"random"` (uniformly) or `"mean"` (by the mean of the
            return, then uniformly); neither overrides the objective (`docs/agent.md`).
        kappa: the Huber threshold of the quantile loss, `>= 0` (`1.0`: QR-DQN's loss; `0`: the
            pure quantile loss); see [`rdo_sb3.losses.quantile_huber_loss`][rdo_sb3.losses.quantile_huber_loss].
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
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: DEtaNPolicy
    scorer: Scorer | None
    """What the agent acts on (the objective, and the stock layout or naive mode); its one owner."""
    stock_layout: StockLayout | None
    """The training env's stock layout (`None` in naive mode without a stock)."""
    stock_range: StockRange | None
    """The stocks drawn for relabelling and searched for the CVaR initial stock."""

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
        stock_range: tuple[float, float] | StockRange | None = None,
        tie_break: str = "random",
        kappa: float = 1.0,
        loss_method: str = "auto",
    ):
        self.kappa = check_kappa(kappa)
        self.loss_method = check_method(loss_method, "loss_method")
        objective = make_objective(objective)
        check_tie_break(tie_break)
        self.relabel_stocks = _relabel_probability(relabel_stocks)
        self.stock_range = _check_range(stock_range)
        self.stock_layout = None
        self.scorer = None
        self._start_obs: Any = None
        self._edge_warned = False
        if env is not None:
            env = maybe_make_env(env, verbose)
            if not isinstance(env.action_space, spaces.Discrete):
                raise ValueError(f"DEtaN needs a Discrete action space (it scores each action), got "
                                 f"{env.action_space}; discretize the actions or use another agent")
            self.stock_layout = read_stock_layout(env)
            if self.stock_layout is None and not naive:
                raise ValueError(f"DEtaN needs an env whose observation carries the stock: {WRAP_HINT}. "
                                 "(naive=True runs the stock-free baseline.)")
            self.scorer = make_scorer(objective, self.stock_layout, naive, tie_break)
        if gamma is None:
            gamma = self.stock_layout.gamma if self.stock_layout is not None else 0.99
        if env is not None:
            _check_policy_fits(policy, env.observation_space)
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

    # -- what the agent acts on -------------------------------------------------------------------
    @property
    def objective(self) -> Objective:
        """The objective acted on (read from `scorer`)."""
        assert self.scorer is not None
        return self.scorer.objective

    @property
    def naive(self) -> bool:
        """Whether this is the stock-free (time-inconsistent) baseline."""
        return isinstance(self.scorer, NaiveScorer)

    def _check_env(self) -> None:
        """Check the env's stock against the model (gamma, scale, where it sits); fill `stock_range`."""
        if "objective" in self.__dict__:  # the attribute of models saved before the scorer held it
            raise ValueError("this DEtaN model was saved by rdo 0.1, which stored the objective outside the "
                             "agent's scorer; load it with rdo 0.1, or retrain it with this version")
        assert self.scorer is not None, "DEtaN needs an env (or a saved model) to know its objective"
        if not self.naive:
            self.objective.check_gamma(self.gamma)
        self.stock_range = _check_range(self.stock_range)  # a list after an older load()
        if self.env is not None:
            if self._vec_normalize_env is not None:
                raise ValueError("DEtaN cannot use VecNormalize: normalized observations hide the stock "
                                 "and normalized rewards break the stock recursion C' = (C + r) / gamma; "
                                 "scale the stock with StockAugmentation(stock_scale=...) instead")
            layout = read_stock_layout(self.env)
            if layout is None and not self.naive:
                raise ValueError(f"DEtaN needs an env whose observation carries the stock: {WRAP_HINT}. "
                                 "(naive=True runs the stock-free baseline.)")
            if layout is not None:
                if not self.naive and not math.isclose(layout.gamma, self.gamma, rel_tol=0, abs_tol=1e-12):
                    raise ValueError(f"DEtaN's gamma={self.gamma} differs from the env's StockAugmentation "
                                     f"gamma={layout.gamma}; they must be equal for the stock recursion "
                                     "C' = (C + r) / gamma to match the agent's bootstrap "
                                     "(or pass gamma=None)")
                if self.stock_layout is not None:
                    self.stock_layout.check_matches(layout, "the env")
                self.stock_layout = layout
        elif self.stock_layout is None and not self.naive:
            raise ValueError(f"DEtaN needs an env whose observation carries the stock: {WRAP_HINT}")
        if self.stock_range is None and self.stock_layout is not None:
            self.stock_range = self.stock_layout.support
        if self.relabel_stocks > 0:
            if self.naive or self.stock_layout is None:
                raise ValueError("relabel_stocks needs a stock in the observation (not naive mode)")
            if self.stock_range is None or self.stock_range.low == self.stock_range.high:
                raise ValueError(f"relabel_stocks needs a range of stocks to draw from, got stock_range="
                                 f"{self.stock_range}: pass stock_range=(low, high) or sample initial stocks "
                                 "with rdo_gym.UniformStock / ChoiceStock")

    def _setup_model(self) -> None:
        self._check_env()
        super()._setup_model()
        self.policy.scorer = self.scorer
        _hint_one_thread(self.device, sum(p.numel() for p in self.policy.parameters()))

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """SB3's `set_env`, also checking the env's stock (gamma, scale, where it sits) against the model."""
        super().set_env(env, force_reset)
        self._check_env()

    def set_objective(self, objective: Objective | str) -> None:
        """Act on another objective from now on (e.g. another target with the same utility)."""
        obj = make_objective(objective)
        if not self.naive:
            obj.check_gamma(self.gamma)
        self.scorer = make_scorer(obj, self.stock_layout, self.naive, self.scorer.tie_break)
        self.policy.scorer = self.scorer

    # -- training ---------------------------------------------------------------------------------
    def relabel(self, replay_data: Any) -> Any:
        """Replace the stocks of a sampled batch, each with probability `relabel_stocks`.

        The new stock `c` is drawn uniformly from `stock_range` (integers if the range is an
        integer one) and the next stock becomes `(c + r) / discount`; other transitions are unchanged.
        """
        layout, stock_range = self.stock_layout, self.stock_range
        assert layout is not None and stock_range is not None
        rewards = replay_data.rewards.view(-1)
        n = rewards.shape[0]
        low, high = stock_range.low, stock_range.high
        u = th.rand(n, device=rewards.device)
        if stock_range.integer:
            c = th.clamp(th.floor(low + (high - low + 1.0) * u), max=high)
        else:
            c = low + (high - low) * u
        discounts = replay_data.discounts
        discounts = discounts.view(-1) if discounts is not None else self.gamma
        c_next = (c + rewards) / discounts
        if self.relabel_stocks < 1.0:
            keep = th.rand(n, device=rewards.device) >= self.relabel_stocks
            c = th.where(keep, layout.read(replay_data.observations), c)
            c_next = th.where(keep, layout.read(replay_data.next_observations), c_next)
        return replay_data._replace(observations=write_stocks(layout, replay_data.observations, c),
                                    next_observations=write_stocks(layout, replay_data.next_observations, c_next))

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
    def stock_candidates(self, n: int = 101) -> np.ndarray:
        """Candidate initial stocks on `stock_range`
        ([`rdo_gym.StockRange.candidates`][rdo_gym.stock.StockRange.candidates])."""
        if self.stock_range is None:
            raise ValueError("no stock_range to search the initial stock in: pass stock_range=(low, high) to "
                             "DEtaN, or stock_candidates= explicitly")
        return self.stock_range.candidates(n)

    def quantiles(self, observation: Any) -> th.Tensor:
        """Learned quantiles `(batch, n_quantiles, n_actions)` of `G` for (a batch of) observations."""
        self.policy.set_training_mode(False)
        obs, _ = self.policy.obs_to_tensor(observation)
        with th.no_grad():
            return self.quantile_net(obs)

    def choose_initial_stock(self, observation: Any, stock_candidates: Any = None) -> tuple[float, float]:
        """The objective's initial stock at a start `observation` and the learned objective value.

        `observation`: one unbatched observation (its stock is overwritten). Fixed-stock objectives
        (target, probability, homeostasis, mean) return their `c0`; searched ones (CVaR) maximize
        `objective.value_from_utility(c, max_a mean_i f(c + theta_i(s0, c, a)))` over
        `stock_candidates` (default [`stock_candidates`][rdo_sb3.detan.DEtaN.stock_candidates]). Returns `(c0,
        estimated value)`; in naive mode `c0` is NaN and the value is the objective's statistic of the greedy action's
        return-to-go quantiles.
        """
        c0, value, candidates = self._initial_stock_choice(observation, stock_candidates)
        if candidates is not None:
            self._warn_on_edge(c0, candidates)
        return c0, value

    def _initial_stock_choice(self, observation: Any, stock_candidates: Any) -> tuple[float, float, Any]:
        """[`choose_initial_stock`][rdo_sb3.detan.DEtaN.choose_initial_stock] without the edge warning, and the
        candidates searched (or None)."""
        assert self.scorer is not None
        if not self._searches_stock():
            return (*self.scorer.choose_initial_stock(self.quantiles, observation, None), None)
        candidates = np.asarray(self.stock_candidates() if stock_candidates is None else stock_candidates,
                                dtype=np.float64).reshape(-1)
        return (*self.scorer.choose_initial_stock(self.quantiles, observation, candidates), candidates)

    def _warn_on_edge(self, c0: float, candidates: np.ndarray) -> None:
        """Warn once when the search picks the lowest or highest candidate: the best `c0` may lie
        outside the searched range, which silently confines it."""
        low, high = float(candidates.min()), float(candidates.max())
        if self._edge_warned or low == high or low < c0 < high:
            return
        self._edge_warned = True
        warnings.warn(f"DEtaN chose the initial stock c0={c0 + 0.0:g} at the edge of the searched range "
                      f"[{low:g}, {high:g}]: the best c0 may lie outside it. Widen the range (stock_range=, "
                      "or the env's initial-stock sampler) so that it covers minus the quantiles of the "
                      "returns you expect", stacklevel=3)

    def _searches_stock(self) -> bool:
        return not self.naive and self.objective.searches_initial_stock

    def _setup_learn(self, total_timesteps: int, callback: MaybeCallback = None,
                     reset_num_timesteps: bool = True, tb_log_name: str = "run",
                     progress_bar: bool = False) -> tuple[int, BaseCallback]:
        out = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        last = self._last_obs
        if isinstance(last, dict):
            self._start_obs = {k: np.array(v[0]) for k, v in last.items()}
        elif last is not None:
            self._start_obs = np.array(last[0])
        return out

    def dump_logs(self) -> None:
        """SB3's logs plus `rollout/objective_estimate` (the learned objective value at the first
        start state of this `learn` call, with the objective's initial-stock choice) and
        `rollout/initial_stock` (that choice). Skipped when the logger has no output."""
        if self._start_obs is not None and self.logger.output_formats and (
                not self._searches_stock() or self.stock_range is not None):
            try:  # an untrained agent's c0 often sits on the edge: no warning from logging
                c0, value, _ = self._initial_stock_choice(self._start_obs, None)
            except (ValueError, RuntimeError) as err:  # never let logging break training
                warnings.warn(f"DEtaN could not estimate the objective for logging: {err}", stacklevel=2)
            else:
                self.logger.record("rollout/objective_estimate", value)
                if not self.naive:
                    self.logger.record("rollout/initial_stock", c0)
        super().dump_logs()

    def learn(self: SelfDEtaN, total_timesteps: int, callback: MaybeCallback = None, log_interval: int = 4,
              tb_log_name: str = "DEtaN", reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> SelfDEtaN:
        return super().learn(total_timesteps=total_timesteps, callback=callback, log_interval=log_interval,
                             tb_log_name=tb_log_name, reset_num_timesteps=reset_num_timesteps,
                             progress_bar=progress_bar)

    @classmethod
    def load(cls, path: Any, env: GymEnv | None = None, device: th.device | str = "auto",
             custom_objects: dict[str, Any] | None = None, print_system_info: bool = False,
             force_reset: bool = True, **kwargs: Any) -> DEtaN:
        """SB3's `load`, with clear errors for a missing file, a truncated zip or another agent's zip."""
        path, data = _zip_data(path)
        if "scorer" not in data and "objective" not in data:
            module = data.get("policy_class", {}).get("__module__", "unknown") if isinstance(
                data.get("policy_class"), dict) else "unknown"
            raise ValueError(f"{str(path)!r} is not a DEtaN model (its policy comes from {module}); load it with "
                             "the class that saved it, e.g. sb3_contrib.QRDQN.load")
        return super().load(path, env=env, device=device, custom_objects=custom_objects,
                            print_system_info=print_system_info, force_reset=force_reset, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_start_obs", "_edge_warned"]
