"""Homeostasis gridworld (`rdo/Homeostasis-v0`): keep an internal energy level near a set point."""

from __future__ import annotations

from typing import Any, ClassVar

from rdo_envs.gridworld import GridBenchmarkEnv

__all__ = ["HomeostasisEnv"]


class HomeostasisEnv(GridBenchmarkEnv):
    """Keep an internal energy level near a set point; food must be walked to.

    Layout (`S` start, `F` berries, `M` meat, `#` rock):

        F . . .
        . . . .
        . . # .
        S . . M

    Actions: 0 up, 1 right, 2 down, 3 left, 4 stay; moves are deterministic (walls block).

    Energy: an unbounded integer starting at `initial_energy` = 3. At every step it drops by 1
    with probability `p_drift` = 0.5, and in the cell entered (or stayed in) berries add +1 with
    probability `p_berry` = 0.8 and meat adds `meat` = +3 with probability `p_meat` = 0.5.
    The reward is the change of energy (in {-1, ..., 3}), so with gamma = 1 the stock
    `c0 + G` with `c0 = initial_energy - setpoint` is the deviation of the energy from the set
    point. After every step the episode ends with probability `hazard` = 0.05 (a random
    lifetime) and surely after `horizon` = 20 steps (`terminated=True` in both cases), so the
    deviation matters at all times. `info["energy"]` reports the level; the observation does not
    contain it (it is the stock: use [`rdo_envs.make_stock_env`][rdo_envs.stock_env.make_stock_env]).

    Objective: `Homeostasis(setpoint, initial_level=initial_energy)`, e.g. `"homeostasis:6:3"`
    (start hungry) and `"homeostasis:3:3"` (start at the set point); reported value: mean
    absolute deviation at the end (lower is better). The risk-neutral policy maximizes intake
    (it camps on the meat) and ends far above the set point. Reference optima (optimum /
    risk-neutral): `homeostasis:6:3`: 1.455 / 8.648; `homeostasis:3:3`: 0.669 / 10.292
    (`rdo_envs.REFERENCE_OPTIMA`).
    """

    layout: ClassVar[tuple[str, ...]] = (
        "F...",
        "....",
        "..#.",
        "S..M",
    )
    n_actions: ClassVar[int] = 5
    cell_colors: ClassVar[dict[str, tuple[int, int, int]]] = {
        "S": (200, 200, 255), "F": (170, 230, 170), "M": (230, 150, 120),
    }
    default_objectives: ClassVar[tuple[str, ...]] = ("homeostasis:6:3", "homeostasis:3:3")
    reference_objectives: ClassVar[tuple[str, ...]] = default_objectives
    training_stocks: ClassVar[tuple[int, int]] = (-8, 8)
    stock_scale: ClassVar[float] = 0.1

    def __init__(self, horizon: int = 20, hazard: float = 0.05, p_drift: float = 0.5,
                 p_berry: float = 0.8, p_meat: float = 0.5, meat: int = 3, initial_energy: int = 3,
                 render_mode: str | None = None):
        super().__init__(horizon, render_mode)
        for name, p in (("hazard", hazard), ("p_drift", p_drift), ("p_berry", p_berry), ("p_meat", p_meat)):
            if not (0.0 <= p <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {name}={p!r}")
        self.hazard, self.p_drift = float(hazard), float(p_drift)
        self.p_berry, self.p_meat, self.meat = float(p_berry), float(p_meat), int(meat)
        self.initial_energy = int(initial_energy)

    def _intake(self, ch: str) -> tuple[tuple[float, int], ...]:
        if ch == "F":
            return ((self.p_berry, 1), (1 - self.p_berry, 0))
        if ch == "M":
            return ((self.p_meat, self.meat), (1 - self.p_meat, 0))
        return ((1.0, 0),)

    def _simulate(self, state: int, action: int) -> tuple[int, int, bool]:
        rng = self.np_random
        nxt = self._move(state, action)
        reward = -1 if rng.random() < self.p_drift else 0
        ch = self.char(nxt)
        if ch == "F" and rng.random() < self.p_berry:
            reward += 1
        elif ch == "M" and rng.random() < self.p_meat:
            reward += self.meat
        return nxt, reward, bool(rng.random() < self.hazard)

    def _outcomes(self, state: int, action: int) -> list[tuple[float, int, int, bool]]:
        nxt = self._move(state, action)
        out = []
        for p_d, drift in ((self.p_drift, -1), (1 - self.p_drift, 0)):
            for p_i, intake in self._intake(self.char(nxt)):
                for p_h, done in ((self.hazard, True), (1 - self.hazard, False)):
                    p = p_d * p_i * p_h
                    if p > 0:
                        out.append((p, nxt, drift + intake, done))
        return out

    def _extra_info(self) -> dict[str, Any]:
        return {"energy": self.initial_energy + int(self._return)}

    def _status(self) -> str:
        return f"t={self._t}/{self.horizon} energy={self.initial_energy + int(self._return)}"
