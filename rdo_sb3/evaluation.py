"""Objective-aware evaluation of a DηN agent: run episodes from the objective's initial stock.

Returns are discounted with the model's gamma: `G = sum_k gamma^k R_{k+1}` (`docs/core.md`);
the reported value is `objective.value(G samples)` (e.g. CVaR_alpha(G), E|G - target|). Any other
SB3 model is evaluated on a [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env: the
objective is the wrapper's, `c0` the stock wrapper's, and the returns are those of the env's own rewards
(`info["original_reward"]`), discounted with the stock's gamma.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv

from rdo_gym.objectives import Objective
from rdo_gym.stock import find_stock_wrapper
from rdo_gym.terminal_reward import TerminalObjectiveReward
from rdo_sb3.stock_input import WRAP_HINT, read_stock_layout

if TYPE_CHECKING:
    from rdo_sb3.detan import DEtaN

__all__ = ["ObjectiveEvaluation", "InitialStockSearch", "evaluate_objective", "search_initial_stock", "bootstrap_ci",
           "rollout_returns"]


@dataclass(frozen=True)
class ObjectiveEvaluation:
    """Result of [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective].

    Attributes:
        objective: the objective whose `value` is reported.
        returns: discounted return `G` of each episode (without the initial stock).
        initial_stocks: `c0` used in each episode (NaN in naive mode: the env's own stock).
        estimated_values: the agent's learned estimate of the objective at each `(s0, c0)`.
        episode_lengths: number of steps of each episode.
        value: `objective.value(returns)`; `objective.higher_is_better` gives its direction.
        ci: `(low, high)` percentile-bootstrap confidence interval of `value`.
        confidence: the CI's level, e.g. 0.95.
    """

    objective: Objective
    returns: np.ndarray
    initial_stocks: np.ndarray
    estimated_values: np.ndarray
    episode_lengths: np.ndarray
    value: float
    ci: tuple[float, float]
    confidence: float

    def __str__(self) -> str:
        text = (f"{self.objective}: value {self.value:.4g} ({self.confidence:.0%} CI {self.ci[0]:.4g} .. "
                f"{self.ci[1]:.4g}) over {len(self.returns)} episodes; "
                f"mean return {self.returns.mean():.4g}")
        if np.isnan(self.estimated_values).all():  # no learned estimate (the terminal-reward route)
            return text
        return f"{text}; learned estimate {np.nanmean(self.estimated_values):.4g}"


def bootstrap_ci(objective: Objective, returns: np.ndarray, confidence: float = 0.95, n_bootstrap: int = 2000,
                 rng: np.random.Generator | int | None = None) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of `objective.value(returns)`."""
    rng = np.random.default_rng(rng)
    returns = np.asarray(returns, dtype=np.float64)
    n = returns.shape[0]
    if n < 2:
        v = float(objective.value(returns))
        return v, v
    values = np.empty(n_bootstrap)
    chunk = max(1, 2_000_000 // n)  # bounded memory
    for start in range(0, n_bootstrap, chunk):
        stop = min(n_bootstrap, start + chunk)
        values[start:stop] = objective.value(returns[rng.integers(0, n, size=(stop - start, n))], axis=-1)
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def _env_action(env: gym.Env, action: np.ndarray) -> Any:
    """`predict`'s action as the env expects it: a Python int for a Discrete space (toy-text envs
    such as FrozenLake index tables with it; SB3's VecEnvs do this conversion in training)."""
    return int(action) if isinstance(env.action_space, gym.spaces.Discrete) else action


def _find_terminal_reward(env: gym.Env) -> TerminalObjectiveReward | None:
    """The [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] in `env`'s wrapper chain, or
    `None`."""
    current = env
    while current is not None:
        if isinstance(current, TerminalObjectiveReward):
            return current
        current = getattr(current, "env", None)
    return None


def _run_episode(model: Any, env: gym.Env, obs: Any, gamma: float, deterministic: bool,
                 original_reward: bool = False) -> tuple[float, int]:
    """Play one episode from `obs` with `model.predict`: `(discounted return, length)`; with
    `original_reward` the return is of `info["original_reward"]` (a terminal-reward env's own
    rewards) instead of the rewards paid."""
    g, discount, steps, done = 0.0, 1.0, 0, False
    while not done:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, reward, terminated, truncated, info = env.step(_env_action(env, action))
        if original_reward:
            reward = info["original_reward"]
        g += discount * float(reward)
        discount *= gamma
        steps += 1
        done = terminated or truncated
    return g, steps


def _episode_seeds(rng: np.random.Generator, n_episodes: Any) -> list[int]:
    if not (isinstance(n_episodes, int | np.integer) and n_episodes >= 1):
        raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=int(n_episodes))]


@contextlib.contextmanager
def _tie_breaking_seeded(seed: int | None):
    """Seed the global generators that break action ties (numpy's and torch's) for one evaluation,
    restoring them afterwards, so that `seed` makes it reproducible; no-op when `seed` is None."""
    if seed is None:
        yield
        return
    state = np.random.get_state()
    with th.random.fork_rng(devices=[]):
        np.random.seed(np.random.SeedSequence([seed, 0x7E5]).generate_state(1))
        th.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _objective_episodes(model: DEtaN, env: gym.Env, layout: Any, seeds: list[int], initial_stock: float | None,
                        stock_candidates: Any, deterministic: bool,
                        original_reward: bool = False) -> tuple[list, list, list, list]:
    fixed = None if initial_stock is None else float(initial_stock)
    returns, stocks, estimates, lengths = [], [], [], []
    warned = False
    for ep_seed in seeds:
        first, _ = env.reset(seed=ep_seed)
        if fixed is not None and not model.naive:
            c0, estimate = fixed, math.nan
        else:
            c0, estimate = model.choose_initial_stock(first, stock_candidates)
        if model.naive:  # the env's own stock, if any, is left alone
            obs = first
        else:
            obs, _ = env.reset(seed=ep_seed, options={"initial_stock": c0})
            if not warned and not layout.same_stock(first, obs):
                warnings.warn("the env's start state differs between two resets with the same seed; the "
                              "initial stock was chosen at the first one", stacklevel=2)
                warned = True
        g, steps = _run_episode(model, env, obs, model.gamma, deterministic, original_reward)
        returns.append(g)
        stocks.append(c0)
        estimates.append(estimate)
        lengths.append(steps)
    return returns, stocks, estimates, lengths


def _terminal_reward_stock(terminal: TerminalObjectiveReward, initial_stock: float | None) -> float:
    """`c0` of a terminal-reward evaluation: `initial_stock`, else the stock wrapper's fixed stock,
    else the objective's own (a fixed-stock objective); a searched `c0` (CVaR) must be fixed."""
    if initial_stock is not None:
        return float(initial_stock)
    objective = terminal.objective
    stock = find_stock_wrapper(terminal)
    given = None if stock is None else stock.initial_stock
    if given is not None and not callable(given):
        return float(given)
    if not objective.searches_initial_stock:
        return float(objective.initial_stock)
    raise ValueError(
        f"evaluate_objective: {objective} chooses its initial stock c0, and on a TerminalObjectiveReward env "
        f"the agent does not choose it: the stock wrapper samples c0 with {given!r}. Fix c0 on the stock "
        "wrapper, e.g. StockAugmentation(env, initial_stock=c0) with the c0 reported by `rdo solve` (for "
        "CVaR, c0* = -VaR_alpha), or pass evaluate_objective(..., initial_stock=c0)")


def _evaluate_terminal_reward(model: Any, env: gym.Env, terminal: TerminalObjectiveReward, seeds: list[int],
                              initial_stock: float | None, deterministic: bool) -> tuple[list, list, list, list]:
    c0 = _terminal_reward_stock(terminal, initial_stock)
    stock = find_stock_wrapper(terminal)
    gamma = stock.gamma if stock is not None else 1.0
    returns, lengths = [], []
    for ep_seed in seeds:
        obs, _ = env.reset(seed=ep_seed, options={"initial_stock": c0})
        g, steps = _run_episode(model, env, obs, gamma, deterministic, original_reward=True)
        returns.append(g)
        lengths.append(steps)
    n = len(seeds)
    return returns, [c0] * n, [math.nan] * n, lengths


def evaluate_objective(model: DEtaN, env: gym.Env, n_episodes: int = 100, *, deterministic: bool = True,
                       seed: int | None = None, initial_stock: float | None = None,
                       stock_candidates: Any = None, confidence: float = 0.95,
                       n_bootstrap: int = 2000) -> ObjectiveEvaluation:
    """Run `n_episodes` with the objective's initial-stock choice and report its value.

    For a DηN model, each episode is reset with its own seed (drawn from `seed`), `c0` is chosen at that start
    observation by [`DEtaN.choose_initial_stock`][rdo_sb3.detan.DEtaN.choose_initial_stock] (the objective's fixed
    stock, or the CVaR search over `stock_candidates`) unless `initial_stock` is given, and the env is reset again
    with the same seed and `options={"initial_stock": c0}`. In naive mode the env's own stock (if any) is
    left alone. The env must present the stock as the training env did (same
    [`StockLayout`][rdo_gym.stock.StockLayout] gamma, scale and position), else `ValueError`.

    Any other SB3 model (PPO, DQN, QR-DQN...) is evaluated on a
    [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env, the terminal-reward route: the
    objective is the wrapper's, every episode starts at one `c0` (`initial_stock`, else the stock wrapper's fixed
    `initial_stock`, else a fixed-stock objective's own `c0`; a searched `c0`, as CVaR's, must be
    fixed on the stock wrapper or given, else `ValueError`), and the returns are those of the env's
    own rewards (`info["original_reward"]`, not the terminal utility paid) discounted with the
    stock's gamma. `estimated_values` are then NaN.

    Args:
        model: a trained [`DEtaN`][rdo_sb3.detan.DEtaN], or any SB3 model on a terminal-reward env.
        env: a single (non-vectorized) gymnasium env, stock-augmented like the training env.
        confidence: level of the percentile-bootstrap CI (e.g. 0.95).
        n_bootstrap: number of bootstrap resamples.
    """
    if isinstance(env, VecEnv):
        raise TypeError("evaluate_objective takes a single gymnasium env (it resets episodes with their own "
                        "initial stock), not a VecEnv; SB3's evaluate_policy accepts VecEnvs")
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    terminal = _find_terminal_reward(env)
    if not hasattr(model, "choose_initial_stock"):  # not a DηN agent: the terminal-reward route
        if terminal is None:
            raise TypeError(f"evaluate_objective needs a DEtaN model, or any SB3 model on an env wrapped in "
                            f"rdo_gym.TerminalObjectiveReward (whose objective it then reports); got a "
                            f"{type(model).__name__} on an env without it. For plain returns use rollout_returns")
        rng = np.random.default_rng(seed)
        seeds = _episode_seeds(rng, n_episodes)
        objective = terminal.objective
        with _tie_breaking_seeded(seed):
            returns, stocks, estimates, lengths = _evaluate_terminal_reward(model, env, terminal, seeds,
                                                                            initial_stock, deterministic)
    else:
        objective = model.objective
        layout = read_stock_layout(env)
        if layout is None and not model.naive:
            raise ValueError(f"evaluate_objective needs the env's stock to set the initial stock: {WRAP_HINT}")
        if layout is not None and model.stock_layout is not None:
            model.stock_layout.check_matches(layout, "the evaluation env")
        rng = np.random.default_rng(seed)
        seeds = _episode_seeds(rng, n_episodes)
        with _tie_breaking_seeded(seed):
            returns, stocks, estimates, lengths = _objective_episodes(model, env, layout, seeds, initial_stock,
                                                                      stock_candidates, deterministic,
                                                                      terminal is not None)
    returns_arr = np.asarray(returns, dtype=np.float64)
    value = float(objective.value(returns_arr)) + 0.0  # no -0.0
    ci = bootstrap_ci(objective, returns_arr, confidence, n_bootstrap, rng)
    return ObjectiveEvaluation(objective, returns_arr, np.asarray(stocks, dtype=np.float64),
                               np.asarray(estimates, dtype=np.float64), np.asarray(lengths),
                               value, ci, confidence)


@dataclass(frozen=True)
class InitialStockSearch:
    """Result of [`search_initial_stock`][rdo_sb3.evaluation.search_initial_stock].

    Attributes:
        initial_stock: the chosen `c0` (the candidate with the best Monte Carlo value).
        value: the objective's Monte Carlo value from `initial_stock` (on the search's own episodes: optimistic
            as an estimate of the chosen policy; evaluate it afresh on other seeds).
        candidates: the candidate stocks evaluated (the shortlist, when one was asked for).
        values: the Monte Carlo value from each candidate, on the same episodes.
        episodes: episodes per candidate.
        env_steps: env steps the search used (count them in a budget of env interactions).
    """

    initial_stock: float
    value: float
    candidates: np.ndarray
    values: np.ndarray
    episodes: int
    env_steps: int


def search_initial_stock(model: Any, env: gym.Env, n_episodes: int = 100, *, stock_candidates: Any = None,
                         shortlist: int | None = None, seed: int | None = None,
                         deterministic: bool = True) -> InitialStockSearch:
    """Choose a searched objective's initial stock (CVaR, mean-CVaR) by Monte Carlo instead of the learned search.

    Each candidate `c0` fixes a policy (the agent acting from `c0`); its value is the objective's statistic of the
    returns of `n_episodes` episodes started at `c0`, all candidates on the same episode seeds (common random
    numbers: the differences between candidates are measured with less noise than the values). The best candidate
    wins. Use it when the learned outer search `max_c -c + E[f(c + G)]` is too flat for the errors of the
    learned tail (e.g. mean-CVaR, `docs/agent.md`) and a simulator is at hand; it costs
    `env_steps` env interactions.

    Args:
        model: a trained [`DEtaN`][rdo_sb3.detan.DEtaN] or [`DEtaTQC`][rdo_sb3.detatqc.DEtaTQC] (not naive), or any
            SB3 model on a [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env
            (then `stock_candidates` is required).
        env: a single stock-augmented gymnasium env, as for
            [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective].
        n_episodes: episodes per candidate.
        stock_candidates: the candidate `c0`s; default the agent's
            [`stock_candidates`][rdo_sb3.objective_agent.ObjectiveAgentMixin.stock_candidates].
        shortlist: evaluate only the this many candidates with the best learned values (at the first episode's start
            observation); `None` evaluates all. Needs a stock-augmented agent.
        seed: seeds the episodes (and the tie-breaking) for reproducibility.
    """
    terminal = _find_terminal_reward(env)
    agent = hasattr(model, "choose_initial_stock")
    objective = model.objective if agent else (terminal.objective if terminal is not None else None)
    if objective is None:
        raise TypeError(f"search_initial_stock needs a DEtaN/DEtaTQC model, or any SB3 model on an env wrapped in "
                        f"rdo_gym.TerminalObjectiveReward; got a {type(model).__name__} on an env without it")
    if not objective.searches_initial_stock:
        raise ValueError(f"search_initial_stock: objective {objective} fixes its own initial stock "
                         f"c0 = {objective.initial_stock:g}; only searched objectives (cvar:, meancvar:) choose one")
    if agent and model.naive:
        raise ValueError("search_initial_stock: a naive agent has no initial stock to choose (naive=True)")
    if stock_candidates is None:
        if not agent:
            raise ValueError(f"search_initial_stock: pass stock_candidates= (the c0s to try) for a "
                             f"{type(model).__name__} on a terminal-reward env")
        stock_candidates = model.stock_candidates()
    candidates = np.unique(objective.initial_stock_candidates(stock_candidates))
    seeds = _episode_seeds(np.random.default_rng(seed), n_episodes)
    if shortlist is not None:
        if not (isinstance(shortlist, int | np.integer) and not isinstance(shortlist, bool) and shortlist >= 1):
            raise ValueError(f"shortlist must be a positive integer or None, got {shortlist!r}")
        if not agent:
            raise ValueError("search_initial_stock: shortlist= ranks candidates by the agent's learned values; "
                             f"a {type(model).__name__} has none (pass shortlist=None)")
        start, _ = env.reset(seed=seeds[0])
        stocks, learned = model.scorer.initial_stock_values(model.quantiles, start, candidates)
        order = np.argsort(-learned if objective.higher_is_better else learned, kind="stable")
        candidates = np.sort(stocks[order[:shortlist]])
    values, steps = [], 0
    for c0 in candidates:
        report = evaluate_objective(model, env, n_episodes, seed=seed, initial_stock=float(c0),
                                    deterministic=deterministic, n_bootstrap=1)
        values.append(report.value)
        steps += int(report.episode_lengths.sum())
    values_arr = np.asarray(values, dtype=np.float64)
    best = int(np.argmax(values_arr) if objective.higher_is_better else np.argmin(values_arr))
    return InitialStockSearch(float(candidates[best]), float(values_arr[best]), candidates, values_arr, len(seeds),
                              steps)


def rollout_returns(model: Any, env: gym.Env, n_episodes: int, *, gamma: float = 1.0, seed: int | None = None,
                    deterministic: bool = True) -> np.ndarray:
    """Discounted returns `G` of `n_episodes` episodes of any SB3 model (e.g. a plain QR-DQN).

    Each episode is reset with its own seed drawn from `seed`; no initial stock is set (use
    [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] for DηN, which chooses `c0`). On a
    [`TerminalObjectiveReward`][rdo_gym.terminal_reward.TerminalObjectiveReward] env the returns are those of the
    env's own rewards (`info["original_reward"]`), not of the terminal utilities paid.
    """
    if isinstance(env, VecEnv):
        raise TypeError("rollout_returns takes a single gymnasium env, not a VecEnv")
    original = _find_terminal_reward(env) is not None
    rng = np.random.default_rng(seed)
    returns = [_run_episode(model, env, env.reset(seed=ep_seed)[0], gamma, deterministic, original)[0]
               for ep_seed in _episode_seeds(rng, n_episodes)]
    return np.asarray(returns, dtype=np.float64)
