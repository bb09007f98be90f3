"""What every stock-augmented rdo agent shares, whatever its SB3 base: the objective and its scorer,
the env's stock check, stock relabelling of replayed transitions, the initial-stock choice, logging
of the learned objective value, and the checks of a saved model.

[`ObjectiveAgentMixin`][rdo_sb3.objective_agent.ObjectiveAgentMixin] is mixed into an SB3 off-policy algorithm
before it in the bases (`class DEtaN(ObjectiveAgentMixin, QRDQN)`); the agent supplies how it reads its learned
quantiles ([`quantiles`][rdo_sb3.objective_agent.ObjectiveAgentMixin.quantiles]) and which action spaces it takes.
[`DEtaN`][rdo_sb3.detan.DEtaN] (discrete actions, on QR-DQN) is one.
"""

from __future__ import annotations

import json
import math
import pathlib
import warnings
import zipfile
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback

from rdo_gym.objectives import Objective, make_objective
from rdo_gym.stock import StockLayout, StockRange
from rdo_sb3.scorers import NaiveScorer, Scorer, check_tie_break, make_scorer
from rdo_sb3.stock_input import WRAP_HINT, read_stock_layout, write_stocks
from rdo_sb3.stock_range import AutoStockRange
from rdo_sb3.stock_range import check_stock_range as check_stock_range_or_auto

__all__ = ["ObjectiveAgentMixin"]


def relabel_probability(relabel_stocks: bool | float) -> float:
    """`relabel_stocks` as a probability (`True` = 0.5); a ValueError unless a bool or a number in [0, 1]."""
    if isinstance(relabel_stocks, bool):
        return 0.5 if relabel_stocks else 0.0
    try:
        p = float(relabel_stocks)
    except (TypeError, ValueError):
        p = math.nan
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"relabel_stocks must be a bool or a probability in [0, 1], got {relabel_stocks!r}")
    return p


def check_stock_range(stock_range: Any) -> StockRange | None:
    """`stock_range` as a [`StockRange`][rdo_gym.stock.StockRange] (or `None`), with a clear error."""
    if stock_range is None:
        return None
    try:
        return StockRange.of(stock_range)
    except ValueError:
        raise ValueError(f"stock_range must be a pair (low, high) of finite numbers with low <= high, or an "
                         f"rdo_gym.StockRange, got {stock_range!r}") from None


def check_policy_fits(policy: Any, space: spaces.Space) -> None:
    """A clear error, with the fix, for the two policy/observation mix-ups SB3 reports obscurely."""
    name = policy if isinstance(policy, str) else getattr(policy, "__name__", "")
    if name == "MultiInputPolicy" and not isinstance(space, spaces.Dict):
        raise ValueError(f"'MultiInputPolicy' needs a Dict observation, got {space}: use 'MlpPolicy' with "
                         "StockAugmentation(flatten=True), or StockAugmentation(flatten=False) for a Dict")
    if name == "MlpPolicy" and isinstance(space, spaces.Dict):
        raise ValueError(f"'MlpPolicy' needs a flat Box observation, got the Dict {space}: use "
                         "'MultiInputPolicy', or StockAugmentation(..., flatten=True) for a flat Box")


SMALL_NETWORK = 1_000_000
"""Parameters: below this, intra-op torch threads cost more than they give on a CPU."""


def hint_one_thread(device: th.device, n_parameters: int, given: list[bool], stacklevel: int) -> None:
    """Once per process (`given[0]` records it): a hint that one torch thread is faster for a small network
    on a CPU."""
    threads = th.get_num_threads()
    if given[0] or device.type != "cpu" or threads == 1 or n_parameters >= SMALL_NETWORK:
        return
    given[0] = True
    warnings.warn(f"torch runs on {threads} CPU threads, but this network is small ({n_parameters:,} parameters): "
                  "one thread is usually faster and leaves the cores to the envs. Call torch.set_num_threads(1) "
                  "before training (the rdo command line does so by default)", stacklevel=stacklevel + 1)


def zip_data(path: Any, agent: str) -> tuple[Any, dict[str, Any]]:
    """The path of a saved model and the JSON `data` of its zip, with clear errors naming `agent`."""
    if isinstance(path, (str, pathlib.Path)):
        path = pathlib.Path(path)
        if not path.exists() and path.suffix != ".zip" and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")
        if not path.exists():
            raise FileNotFoundError(f"no saved {agent} model at {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError) as err:
        raise ValueError(f"{path!r} is not a complete model zip written by {agent}.save ({err})") from None
    return path, data


class ObjectiveAgentMixin:
    """The objective-handling half of an rdo agent, mixed into an SB3 off-policy algorithm.

    It owns the agent's [`Scorer`][rdo_sb3.scorers.Scorer] (the objective, and the stock layout or naive
    mode), checks that the env carries the stock as the model expects (`gamma`, scale, position), rewrites
    the stocks of replayed transitions (stock relabelling), chooses the initial stock `c0` (the objective's
    fixed `c0`, or the CVaR outer search), logs the learned objective value, and refuses zips of other
    agents. An agent using it calls `_init_objective` before its SB3 base's constructor and `_check_env` in
    `_setup_model`, and implements [`quantiles`][rdo_sb3.objective_agent.ObjectiveAgentMixin.quantiles] and
    `_check_action_space`.
    """

    agent_name: ClassVar[str] = "agent"
    """The agent's name in error messages (e.g. `"DEtaN"`)."""
    scorer: Scorer | None
    """What the agent acts on (the objective, and the stock layout or naive mode); its one owner."""
    stock_layout: StockLayout | None
    """The training env's stock layout (`None` in naive mode without a stock)."""
    stock_range: StockRange | None
    """The stocks drawn for relabelling and searched for the CVaR initial stock."""
    relabel_stocks: float
    """The probability that a replayed transition gets a fresh stock."""
    auto_stock_range: AutoStockRange | None
    """With `stock_range="auto"`: the estimate of the returns' range, which sets `stock_range`, the env's
    initial-stock sampler and its stock scale ([`rdo_sb3.stock_range`][rdo_sb3.stock_range]); `None` otherwise."""

    # the SB3 algorithm's attributes this mixin reads
    gamma: float
    env: Any
    policy: Any
    logger: Any
    _vec_normalize_env: Any
    _last_obs: Any
    num_timesteps: int
    learning_starts: int
    verbose: int

    def _init_objective(self, env: GymEnv | str | None, verbose: int, *, objective: Objective | str, naive: bool,
                        tie_break: str, relabel_stocks: bool | float,
                        stock_range: tuple[float, float] | StockRange | AutoStockRange | str | None,
                        return_step: float | None = None) -> Any:
        """Check the objective arguments and the env's stock, build the scorer; returns the env (made if a
        string), to pass on to the SB3 base's constructor."""
        objective = make_objective(objective)
        check_tie_break(tie_break)
        self.relabel_stocks = relabel_probability(relabel_stocks)
        checked = check_stock_range_or_auto(stock_range)
        self.auto_stock_range = checked if isinstance(checked, AutoStockRange) else None
        self.stock_range = None if self.auto_stock_range is not None else checked
        if self.auto_stock_range is not None and naive:
            raise ValueError(f"stock_range={stock_range!r} with naive=True: the naive baseline ignores the stock, so "
                             "there is no stock range to estimate; drop stock_range or naive")
        self.stock_layout = None
        self.scorer = None
        self._start_obs: Any = None
        self._edge_warned = False
        if env is not None:
            env = maybe_make_env(env, verbose)
            self._check_action_space(env.action_space)
            self.stock_layout = read_stock_layout(env)
            if self.stock_layout is None and not naive:
                raise ValueError(f"{self.agent_name} needs an env whose observation carries the stock: {WRAP_HINT}. "
                                 "(naive=True runs the stock-free baseline.)")
            self.scorer = make_scorer(objective, self.stock_layout, naive, tie_break, return_step)
        return env

    def _check_action_space(self, action_space: spaces.Space) -> None:
        """Raise a ValueError, pointing to the right agent, if the agent cannot act in `action_space`."""
        raise NotImplementedError

    def _env_gamma(self, gamma: float | None) -> float:
        """`gamma`, or the env's `StockAugmentation` gamma when `None` (0.99 without a stock)."""
        if gamma is not None:
            return gamma
        return self.stock_layout.gamma if self.stock_layout is not None else 0.99

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
        name = self.agent_name
        if "objective" in self.__dict__:  # the attribute of models saved before the scorer held it
            raise ValueError(f"this {name} model was saved by rdo 0.1, which stored the objective outside the "
                             "agent's scorer; load it with rdo 0.1, or retrain it with this version")
        assert self.scorer is not None, f"{name} needs an env (or a saved model) to know its objective"
        if not self.naive:
            self.objective.check_gamma(self.gamma)
        self.stock_range = check_stock_range(self.stock_range)  # a list after an older load()
        auto = getattr(self, "auto_stock_range", None)  # absent from models saved before it existed
        self.auto_stock_range = auto
        if auto is not None and auto.ready and self.env is not None:  # the env takes the estimate (sampler, scale)
            self.stock_range = auto.apply(self.env, self.objective)
        if self.env is not None:
            if self._vec_normalize_env is not None:
                raise ValueError(f"{name} cannot use VecNormalize: normalized observations hide the stock "
                                 "and normalized rewards break the stock recursion C' = (C + r) / gamma; "
                                 "scale the stock with StockAugmentation(stock_scale=...) instead")
            layout = read_stock_layout(self.env)
            if layout is None and not self.naive:
                raise ValueError(f"{name} needs an env whose observation carries the stock: {WRAP_HINT}. "
                                 "(naive=True runs the stock-free baseline.)")
            if layout is not None:
                if not self.naive and not math.isclose(layout.gamma, self.gamma, rel_tol=0, abs_tol=1e-12):
                    raise ValueError(f"{name}'s gamma={self.gamma} differs from the env's StockAugmentation "
                                     f"gamma={layout.gamma}; they must be equal for the stock recursion "
                                     "C' = (C + r) / gamma to match the agent's bootstrap "
                                     "(or pass gamma=None)")
                if self.stock_layout is not None:
                    self.stock_layout.check_matches(layout, "the env")
                self.stock_layout = layout
        elif self.stock_layout is None and not self.naive:
            raise ValueError(f"{name} needs an env whose observation carries the stock: {WRAP_HINT}")
        pending = auto is not None and not auto.ready  # the warm-up will set stock_range
        if self.stock_range is None and self.stock_layout is not None and not pending:
            self.stock_range = self.stock_layout.support
        if self.relabel_stocks > 0 and not pending:
            if self.naive or self.stock_layout is None:
                raise ValueError("relabel_stocks needs a stock in the observation (not naive mode)")
            if self.stock_range is None or self.stock_range.low == self.stock_range.high:
                raise ValueError(f"relabel_stocks needs a range of stocks to draw from, got stock_range="
                                 f"{self.stock_range}: pass stock_range=(low, high) or sample initial stocks "
                                 "with rdo_gym.UniformStock / ChoiceStock")

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """SB3's `set_env`, also checking the env's stock (gamma, scale, where it sits) against the model."""
        super().set_env(env, force_reset)  # type: ignore[misc]
        self._check_env()

    def set_objective(self, objective: Objective | str) -> None:
        """Act on another objective from now on (e.g. another target with the same utility)."""
        assert self.scorer is not None
        obj = make_objective(objective)
        if not self.naive:
            obj.check_gamma(self.gamma)
        self.scorer = make_scorer(obj, self.stock_layout, self.naive, self.scorer.tie_break, self.scorer.return_step)
        self._scorer_changed()
        auto = self.auto_stock_range
        if auto is not None and auto.ready:  # the range follows the objective (a fixed c0 is taken in)
            self.stock_range = auto.stock_range_for(obj) if self.env is None else auto.apply(self.env, obj)

    def _scorer_changed(self) -> None:
        """Hook: `scorer` was replaced (e.g. hand it to the policy)."""

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
        fresh = None  # every row, or (relabel_stocks < 1) those drawn; the others stay bit for bit as stored
        if self.relabel_stocks < 1.0:
            fresh = th.rand(n, device=rewards.device) < self.relabel_stocks
        return replay_data._replace(
            observations=write_stocks(layout, replay_data.observations, c, where=fresh),
            next_observations=write_stocks(layout, replay_data.next_observations, c_next, where=fresh))

    # -- initial stock and the objective's estimate -------------------------------------------------
    def quantiles(self, observation: Any) -> th.Tensor:
        """Learned quantiles `(batch, n_quantiles, n_actions)` of `G` for (a batch of) observations, as the
        scorer reads them (a continuous-action agent gives those of its policy's action: `n_actions = 1`)."""
        raise NotImplementedError

    def stock_candidates(self, n: int = 101) -> np.ndarray:
        """Candidate initial stocks on `stock_range`
        ([`rdo_gym.StockRange.candidates`][rdo_gym.stock.StockRange.candidates])."""
        if self.stock_range is None:
            if self.auto_stock_range is not None:
                raise ValueError(f"{self.agent_name}(stock_range='auto') has not estimated its stock range yet: "
                                 "it does "
                                 "so when learn() ends its warm-up (learning_starts steps); train it first, or pass "
                                 "stock_candidates= explicitly")
            raise ValueError("no stock_range to search the initial stock in: pass stock_range=(low, high) to "
                             f"{self.agent_name}, or stock_candidates= explicitly")
        return self.stock_range.candidates(n)

    def choose_initial_stock(self, observation: Any, stock_candidates: Any = None) -> tuple[float, float]:
        """The objective's initial stock at a start `observation` and the learned objective value.

        `observation`: one unbatched observation (its stock is overwritten). Fixed-stock objectives
        (target, probability, homeostasis, mean) return their `c0`; searched ones (CVaR) maximize
        `objective.value_from_utility(c, max_a mean_i f(c + theta_i(s0, c, a)))` over
        `stock_candidates` (default
        [`stock_candidates`][rdo_sb3.objective_agent.ObjectiveAgentMixin.stock_candidates]). Returns `(c0,
        estimated value)`; in naive mode `c0` is NaN and the value is the objective's statistic of the greedy action's
        return-to-go quantiles. A warning, once, when the search picks the lowest or highest candidate.
        """
        c0, value, candidates = self._initial_stock_choice(observation, stock_candidates)
        if candidates is not None:
            self._warn_on_edge(c0, candidates)
        return c0, value

    def _initial_stock_choice(self, observation: Any, stock_candidates: Any) -> tuple[float, float, Any]:
        """[`choose_initial_stock`][rdo_sb3.objective_agent.ObjectiveAgentMixin.choose_initial_stock] without the edge
        warning, and the candidates searched (or None)."""
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
        warnings.warn(f"{self.agent_name} chose the initial stock c0={c0 + 0.0:g} at the edge of the searched range "
                      f"[{low:g}, {high:g}]: the best c0 may lie outside it. Widen the range (stock_range=, "
                      "or the env's initial-stock sampler) so that it covers minus the quantiles of the "
                      "returns you expect", stacklevel=3)

    def _searches_stock(self) -> bool:
        return not self.naive and self.objective.searches_initial_stock

    def _setup_learn(self, total_timesteps: int, callback: MaybeCallback = None,
                     reset_num_timesteps: bool = True, tb_log_name: str = "run",
                     progress_bar: bool = False) -> tuple[int, BaseCallback]:
        before = self._last_obs
        out = super()._setup_learn(total_timesteps, callback, reset_num_timesteps,  # type: ignore[misc]
                                   tb_log_name, progress_bar)
        auto = self.auto_stock_range
        if auto is not None:
            if self._last_obs is not before or auto.running_returns() == []:  # the env was reset
                auto.start_tracking(self.env.num_envs, self.gamma)
            if not auto.ready and self.num_timesteps >= self.learning_starts:  # no warm-up phase left: one apart
                self._settle_stock_range(auto.warm_up(self.env, self.gamma))
                self._last_obs = self.env.reset()
        last = self._last_obs
        if isinstance(last, dict):
            self._start_obs = {k: np.array(v[0]) for k, v in last.items()}
        elif last is not None:
            self._start_obs = np.array(last[0])
        return out

    # -- the automatic stock range ------------------------------------------------------------------
    def _store_transition(self, replay_buffer: Any, buffer_action: np.ndarray, new_obs: Any, reward: np.ndarray,
                          dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """SB3's `_store_transition`, then, with `stock_range="auto"`, the returns of the episodes just
        finished: gathered during the warm-up, whose end (`num_timesteps >= learning_starts`) makes the first
        estimate; afterwards a return outside the range widens it."""
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)  # type: ignore[misc]
        auto = self.auto_stock_range
        if auto is None:
            return
        finished = auto.track(reward, dones)
        if not auto.ready:
            auto.pending.extend(finished)
            if self.num_timesteps >= self.learning_starts:
                self._settle_stock_range(auto.pending or auto.running_returns())
        elif finished and auto.observe(finished):
            self.stock_range = auto.apply(self.env, self.objective)
            self._stock_range_report("widened")

    def _settle_stock_range(self, returns: list[float]) -> None:
        """The first estimate from the warm-up's `returns`: the agent's `stock_range`, the env's sampler and
        (with `set_scale`) its stock scale, with the stocks already stored rescaled to it."""
        auto = self.auto_stock_range
        assert auto is not None and self.stock_layout is not None
        auto.observe(returns)
        if auto.covered is None:  # nothing finite came back (no step taken): a range around 0 of width 2 margin
            auto.observe([0.0])
        auto.pending, auto.widenings, auto.estimated_at = [], 0, int(self.num_timesteps)
        old_scale = self.stock_layout.scale
        self.stock_range = auto.apply(self.env, self.objective, scale=auto.set_scale)
        layout = read_stock_layout(self.env)
        assert layout is not None
        if not math.isclose(layout.scale, old_scale, rel_tol=1e-12):
            self._rescale_stored_stocks(layout.scale / old_scale)
        self.stock_layout = layout
        assert self.scorer is not None
        self.scorer = make_scorer(self.objective, layout, self.naive, self.scorer.tie_break, self.scorer.return_step)
        self._scorer_changed()
        self._stock_range_report("estimated")

    def _rescale_stored_stocks(self, ratio: float) -> None:
        """Multiply the stock entry of the replay buffer's observations and of the current observation by
        `ratio` (the new scale over the old); a discounted layout's `gamma^t` entry is left alone."""
        layout = self.stock_layout
        assert layout is not None

        def scale(array: Any) -> None:
            if layout.key is not None:
                array[layout.key][..., 0] *= ratio
            else:
                array[..., layout.index] *= ratio

        buffer = getattr(self, "replay_buffer", None)
        for name in ("observations", "next_observations"):
            stored = getattr(buffer, name, None)
            if stored is not None:
                scale(stored)
        for name in ("_last_obs", "_last_original_obs"):
            last = getattr(self, name, None)
            if last is None:
                continue
            last = {k: np.array(v) for k, v in last.items()} if isinstance(last, dict) else np.array(last)
            scale(last)
            setattr(self, name, last)

    def _stock_range_report(self, what: str) -> None:
        """The estimate in SB3's logger (`stock_range/...`, and a line at `verbose >= 1`)."""
        auto = self.auto_stock_range
        assert auto is not None
        self.logger.log(f"{self.agent_name}: {auto.describe(self.objective)} ({what} at step {self.num_timesteps})")
        self._record_stock_range()

    def _record_stock_range(self) -> None:
        auto = self.auto_stock_range
        if auto is None or not auto.ready or self.stock_range is None:
            return
        self.logger.record("stock_range/low", self.stock_range.low)
        self.logger.record("stock_range/high", self.stock_range.high)
        self.logger.record("stock_range/widenings", auto.widenings)
        if auto.stock_scale is not None:
            self.logger.record("stock_range/scale", auto.stock_scale)

    def dump_logs(self) -> None:
        """SB3's logs plus `rollout/objective_estimate` (the learned objective value at the first
        start state of this `learn` call, with the objective's initial-stock choice) and
        `rollout/initial_stock` (that choice). Skipped when the logger has no output."""
        if self._start_obs is not None and self.logger.output_formats and (
                not self._searches_stock() or self.stock_range is not None):
            try:  # an untrained agent's c0 often sits on the edge: no warning from logging
                c0, value, _ = self._initial_stock_choice(self._start_obs, None)
            except (ValueError, RuntimeError) as err:  # never let logging break training
                warnings.warn(f"{self.agent_name} could not estimate the objective for logging: {err}", stacklevel=2)
            else:
                self.logger.record("rollout/objective_estimate", value)
                if not self.naive:
                    self.logger.record("rollout/initial_stock", c0)
        self._record_stock_range()
        super().dump_logs()  # type: ignore[misc]

    # -- saving and loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Any, env: GymEnv | None = None, device: th.device | str = "auto",
             custom_objects: dict[str, Any] | None = None, print_system_info: bool = False,
             force_reset: bool = True, **kwargs: Any) -> Any:
        """SB3's `load`, with clear errors for a missing file, a truncated zip or another agent's zip; the
        objective, the stock layout and `stock_range` come back with the model, and `env` is checked against
        them."""
        path = cls._check_saved(path)
        return super().load(path, env=env, device=device, custom_objects=custom_objects,  # type: ignore[misc]
                            print_system_info=print_system_info, force_reset=force_reset, **kwargs)

    @classmethod
    def _check_saved(cls, path: Any) -> Any:
        """The path of a saved model of this agent, with clear errors for a missing file, a truncated zip or
        another agent's zip."""
        path, data = zip_data(path, cls.agent_name)
        if "scorer" not in data and "objective" not in data:
            module = data.get("policy_class", {}).get("__module__", "unknown") if isinstance(
                data.get("policy_class"), dict) else "unknown"
            raise ValueError(f"{str(path)!r} is not a {cls.agent_name} model (its policy comes from {module}); load "
                             f"it with the class that saved it, e.g. {cls._foreign_loader()}")
        return path

    @classmethod
    def _foreign_loader(cls) -> str:
        """The loader a zip without an objective most likely needs (named in the error)."""
        return "the sb3-contrib class it was trained with"

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_start_obs", "_edge_warned"]  # type: ignore[misc]
