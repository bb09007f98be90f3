"""Blackjack-v1 as a flat Box env with an exact tabular model built from gymnasium's card rules.

The rules are those of `gymnasium/envs/toy_text/blackjack.py`: an infinite deck (each draw is
1-9 with probability 1/13 each and 10 with probability 4/13), two cards each at the start, the
player hits (action 1: -1 and the end on a bust) or sticks (action 0); the dealer then draws while
its sum is below 17 (an ace counts 11 while that does not bust: it stands on a soft 17), and the
reward is `+1 / 0 / -1` by comparison of the scores. `sab=True` (the registered default): a
natural (ace + ten-card as the first two cards) wins `+1` unless the dealer also has one;
`natural=True` (without `sab`): a winning natural pays `+1.5`.

Tabular state `(player sum, usable ace, dealer's card, first decision)` plus one terminal state:
with an infinite deck the dealer's hidden card is independent of everything the player sees, so it
is summed out when the player sticks; "first decision" (no card drawn yet) tells a natural from a
later soft 21. Blackjack has no horizon: every hit adds at least 1 to the hard total, which starts at 2 or
more, so an episode ends after at most 20 steps; the time is not observed. The model carries the
horizon `MAX_STEPS` = 21 that no episode reaches (the same law, solved by backward
induction). Observation (flat float32 Box, length 45): one-hot of the player's sum (32), one-hot of
the dealer's card (11, index = card value), the usable-ace bit and the first-decision bit.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np

from rdo_envs.external.tabular import HorizonEnv
from rdo_gym.dp.model import TabularMDP

__all__ = ["BlackjackTabularEnv", "CARD_PROBS", "MAX_STEPS", "dealer_law", "hand_value"]

CARD_PROBS: dict[int, float] = {c: (4 if c == 10 else 1) / 13 for c in range(1, 11)}
"""Probability of each card value 1..10 (infinite deck)."""
MAX_STEPS = 21
"""A horizon no Blackjack episode reaches (the model's: backward induction instead of value iteration)."""
_SUMS, _CARDS = 32, 11
N_FEATURES = _SUMS + _CARDS + 2


def hand_value(hard: int, has_ace: bool) -> tuple[int, bool]:
    """`(sum, usable ace)` of a hand of hard total `hard` (aces as 1), as gymnasium counts it."""
    usable = has_ace and hard + 10 <= 21
    return (hard + 10 if usable else hard), usable


@cache
def _dealer_from(hard: int, has_ace: bool) -> tuple[tuple[int, float], ...]:
    total, _ = hand_value(hard, has_ace)
    if total >= 17:
        return ((0 if total > 21 else total, 1.0),)
    out: dict[int, float] = {}
    for c, p in CARD_PROBS.items():
        for score, q in _dealer_from(hard + c, has_ace or c == 1):
            out[score] = out.get(score, 0.0) + p * q
    return tuple(sorted(out.items()))


@cache
def dealer_law(card: int) -> tuple[tuple[int, bool, float], ...]:
    """The law of the dealer's final `(score, natural)` given its face-up card (score 0 = bust)."""
    out: dict[tuple[int, bool], float] = {}
    for hidden, p in CARD_PROBS.items():
        natural = sorted((card, hidden)) == [1, 10]
        for score, q in _dealer_from(card + hidden, 1 in (card, hidden)):
            out[score, natural] = out.get((score, natural), 0.0) + p * q
    return tuple((s, n, p) for (s, n), p in sorted(out.items()))


def _index(total: int, usable: bool, card: int, first: bool) -> int:
    return ((total * 2 + int(usable)) * _CARDS + card) * 2 + int(first)


TERMINAL = _SUMS * 2 * _CARDS * 2


class BlackjackTabularEnv(HorizonEnv):
    """`Blackjack-v1` with a flat Box observation and its exact [`model`][rdo_envs.external.tabular.HorizonEnv.model]
    (see the module doc).

    Args:
        env: A `Blackjack-v1` env (its `natural` and `sab` options are read).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env, None, N_FEATURES)
        self.n_states = TERMINAL + 1
        self._terminal = False

    def _on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        self._terminal = False

    def _on_step(self, state: int, obs: Any, terminated: bool, info: dict[str, Any]) -> None:
        self._terminal = terminated

    def _state(self) -> int:
        if self._terminal:
            return TERMINAL
        hand = self.env.player
        total, usable = hand_value(sum(hand), 1 in hand)
        return _index(total, usable, int(self.env.dealer[0]), self._t == 0)

    def _features(self, state: int) -> np.ndarray:
        if not 0 <= state <= TERMINAL:
            raise ValueError(f"need 0 <= state <= {TERMINAL}, got {state}")
        out = np.zeros(N_FEATURES, dtype=np.float32)
        if state == TERMINAL:
            return out
        rest, first = divmod(state, 2)
        rest, card = divmod(rest, _CARDS)
        total, usable = divmod(rest, 2)
        out[total] = 1.0
        out[_SUMS + card] = 1.0
        out[-2], out[-1] = usable, first
        return out

    def _stick(self, total: int, card: int, first: bool) -> list[tuple[float, int, float, bool]]:
        sab, natural_pays = bool(self.env.sab), bool(self.env.natural)
        player_natural = first and total == 21
        rewards: dict[float, float] = {}
        for dealer, dealer_natural, p in dealer_law(card):
            r = float(total > dealer) - float(total < dealer)
            if sab and player_natural and not dealer_natural:
                r = 1.0
            elif not sab and natural_pays and player_natural and r == 1.0:
                r = 1.5
            rewards[r] = rewards.get(r, 0.0) + p
        return [(p, TERMINAL, r, True) for r, p in rewards.items()]

    def _hit(self, total: int, usable: bool, card: int) -> list[tuple[float, int, float, bool]]:
        hard = total - 10 if usable else total
        out = []
        for c, p in CARD_PROBS.items():
            new_total, new_usable = hand_value(hard + c, usable or c == 1)
            if new_total > 21:
                out.append((p, TERMINAL, -1.0, True))
            else:
                out.append((p, _index(new_total, new_usable, card, False), 0.0, False))
        return out

    def _build_model(self) -> TabularMDP:
        outcomes = []
        for s in range(self.n_states):
            if s == TERMINAL:
                outcomes.append([[(1.0, s, 0.0, True)] for _ in range(2)])
                continue
            rest, first = divmod(s, 2)
            rest, card = divmod(rest, _CARDS)
            total, usable = divmod(rest, 2)
            if not (4 <= total <= 21 and 1 <= card <= 10) or (usable and total < 12):
                outcomes.append([[(1.0, s, 0.0, True)] for _ in range(2)])  # never a decision state
                continue
            outcomes.append([self._stick(total, card, bool(first)), self._hit(total, bool(usable), card)])
        initial = np.zeros(self.n_states)
        for c1, p1 in CARD_PROBS.items():
            for c2, p2 in CARD_PROBS.items():
                total, usable = hand_value(c1 + c2, 1 in (c1, c2))
                for d, pd in CARD_PROBS.items():
                    initial[_index(total, usable, d, True)] += p1 * p2 * pd
        return TabularMDP.from_outcomes(outcomes, initial, horizon=MAX_STEPS)
