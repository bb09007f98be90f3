"""Target-return gridworld (`rdo/TargetGrid-v0`): generate a prescribed total return."""

from __future__ import annotations

from typing import ClassVar

from rdo_envs.gridworld import GridBenchmarkEnv

__all__ = ["TargetGridEnv"]


class TargetGridEnv(GridBenchmarkEnv):
    """Collect rewards on a 5x5 grid so that the total return hits a target `g`.

    Layout (`S` start, `E` exit, `+`/`-` reward cells, `*` lottery cell):

        E + . - E
        . . * . .
        + . S . -
        . . * . .
        E - . + E

    Actions: 0 up, 1 right, 2 down, 3 left. With probability `slip` (default 0.2) the chosen
    action is replaced by one drawn uniformly among the four (possibly the same). Moving into the
    border leaves the agent in place.

    Rewards, received for the cell the agent is in after the move (also when it stays in place
    after bumping into the border): `+` gives +1, `-` gives -1, `*` gives +3 or -1 with
    probability 1/2 each, `.` and `S` give 0; entering an exit `E` gives 0 and ends the
    episode. After `horizon` steps (default 12) the episode ends (`terminated=True`).

    Objective: `TargetReturn(g)` (report `E|G - g|`, lower is better) for integer `g` in
    `target_range` = [-6, 10]; gamma = 1. Many returns are achievable (oscillating on reward
    cells, or leaving through an exit when the stock is 0), but slips and lotteries make exact hits
    uncertain. Reference optima `E|G - g|` (optimum / risk-neutral): g = -4: 0.142 / 12.840;
    g = 0: 0.030 / 8.842; g = 4: 0.099 / 4.961; g = 8: 0.517 / 1.771 (all even g in
    `rdo_envs.REFERENCE_OPTIMA`; any g via `rdo_envs.reference("rdo/TargetGrid-v0", "target:g")`).
    """

    layout: ClassVar[tuple[str, ...]] = (
        "E+.-E",
        "..*..",
        "+.S.-",
        "..*..",
        "E-.+E",
    )
    n_actions: ClassVar[int] = 4
    cell_colors: ClassVar[dict[str, tuple[int, int, int]]] = {
        "S": (200, 200, 255), "E": (120, 200, 120), "+": (170, 230, 170),
        "-": (240, 170, 170), "*": (250, 220, 120),
    }
    default_objectives: ClassVar[tuple[str, ...]] = ("target:-4", "target:0", "target:4", "target:8")
    reference_objectives: ClassVar[tuple[str, ...]] = tuple(f"target:{g}" for g in range(-6, 11, 2))
    target_range: ClassVar[tuple[int, int]] = (-6, 10)
    training_stocks: ClassVar[tuple[int, int]] = (-10, 6)
    stock_scale: ClassVar[float] = 0.1

    CELL_REWARD: ClassVar[dict[str, int]] = {".": 0, "S": 0, "E": 0, "+": 1, "-": -1}
    LOTTERY: ClassVar[tuple[tuple[float, int], ...]] = ((0.5, 3), (0.5, -1))

    def __init__(self, horizon: int = 12, slip: float = 0.2, render_mode: str | None = None):
        super().__init__(horizon, render_mode)
        if not (0.0 <= slip <= 1.0):
            raise ValueError(f"slip must be a probability in [0, 1], got slip={slip!r}")
        self.slip = float(slip)

    def _is_terminal_cell(self, state: int) -> bool:
        return self.char(state) == "E"

    def _simulate(self, state: int, action: int) -> tuple[int, int, bool]:
        rng = self.np_random
        if rng.random() < self.slip:
            action = int(rng.integers(4))
        nxt = self._move(state, action)
        ch = self.char(nxt)
        if ch == "*":
            reward = 3 if rng.random() < 0.5 else -1
        else:
            reward = self.CELL_REWARD[ch]
        return nxt, reward, ch == "E"

    def _outcomes(self, state: int, action: int) -> list[tuple[float, int, int, bool]]:
        out = []
        for b in range(4):
            p_move = (1.0 - self.slip) * (b == action) + self.slip / 4
            if p_move == 0.0:
                continue
            nxt = self._move(state, b)
            ch = self.char(nxt)
            rewards = self.LOTTERY if ch == "*" else ((1.0, self.CELL_REWARD[ch]),)
            out.extend((p_move * p, nxt, r, ch == "E") for p, r in rewards)
        return out
