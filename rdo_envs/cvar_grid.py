"""CVaR gridworld (`rdo/CVaRGrid-v0`): a risky route over thin ice or a safe, costly one through mud."""

from __future__ import annotations

from typing import ClassVar

from rdo_envs.gridworld import GridBenchmarkEnv

__all__ = ["CVaRGridEnv"]


class CVaRGridEnv(GridBenchmarkEnv):
    """Reach the goal over thin ice (risky) or through mud (safe, costly) after a gusty ridge.

    Layout (`S` start, `w` gusty ridge, `m` mud, `~` thin ice, `G` goal, `#` rock):

        # # m m .
        S w w # G
        # # ~ ~ .

    Actions: 0 up, 1 right, 2 down, 3 left; moves are deterministic (walls block).

    Rewards and hazards, for the cell entered: every step costs -1; on a gusty ridge cell `w` a
    gust (probability `p_gust` = 0.25) costs `gust_penalty` = 4 more (reward -5); mud `m`
    costs `mud_penalty` = 2 more (reward -3); on thin ice `~` the agent falls through with
    probability `p_fall` = 0.05 (reward -`fall_penalty` = -5, episode ends); entering `G`
    gives +`goal_reward` = +10 and ends the episode. After `horizon` = 16 steps the episode
    ends (`terminated=True`).

    Every path crosses the ridge (0, 1 or 2 gusts) to the fork (the second ridge cell); from there
    the ice route (down) and the mud route (up) both take four steps: return 5 over the ice (mean
    3.78 with the falls) or 1 through the mud, before gusts. The risk-neutral policy always takes
    the ice and the naive (stock-free) CVaR policy always the mud. The optimal static-CVaR policy
    depends on the stock at the fork: after two gusts (and, for alpha = 0.25, after one) the
    episode is already in the lower tail, where the higher mean of the ice serves the tail best,
    so it crosses the ice; otherwise it takes the mud.
    Objectives: `CVaR(alpha)` for alpha in {0.05, 0.1, 0.25} (and `Expectation`); gamma = 1.
    Reference optima (optimum / risk-neutral / naive): alpha = 0.05: -4.522 / -11.463 / -7.0;
    0.1: -3.761 / -9.325 / -5.5; 0.25: -2.131 / -3.993 / -4.0 (`rdo_envs.REFERENCE_OPTIMA`).
    """

    layout: ClassVar[tuple[str, ...]] = (
        "##mm.",
        "Sww#G",
        "##~~.",
    )
    n_actions: ClassVar[int] = 4
    cell_colors: ClassVar[dict[str, tuple[int, int, int]]] = {
        "S": (200, 200, 255), "G": (120, 200, 120), "w": (200, 180, 150), "~": (170, 210, 250),
        "m": (150, 110, 70),
    }
    default_objectives: ClassVar[tuple[str, ...]] = ("cvar:0.05", "cvar:0.1", "cvar:0.25", "mean")
    reference_objectives: ClassVar[tuple[str, ...]] = default_objectives
    training_stocks: ClassVar[tuple[int, int]] = (-8, 8)
    stock_scale: ClassVar[float] = 0.1

    def __init__(self, horizon: int = 16, p_gust: float = 0.25, gust_penalty: int = 4,
                 p_fall: float = 0.05, fall_penalty: int = 5, goal_reward: int = 10,
                 mud_penalty: int = 2, render_mode: str | None = None):
        super().__init__(horizon, render_mode)
        for name, p in (("p_gust", p_gust), ("p_fall", p_fall)):
            if not (0.0 <= p <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {name}={p!r}")
        for name, v in (("gust_penalty", gust_penalty), ("fall_penalty", fall_penalty),
                        ("goal_reward", goal_reward), ("mud_penalty", mud_penalty)):
            if int(v) != v:
                raise ValueError(f"{name} must be an integer (lattice rewards), got {name}={v!r}")
        self.p_gust, self.p_fall = float(p_gust), float(p_fall)
        self.gust_penalty, self.fall_penalty = int(gust_penalty), int(fall_penalty)
        self.goal_reward = int(goal_reward)
        self.mud_penalty = int(mud_penalty)

    def _is_terminal_cell(self, state: int) -> bool:
        return self.char(state) == "G"

    def _simulate(self, state: int, action: int) -> tuple[int, int, bool]:
        nxt = self._move(state, action)
        ch = self.char(nxt)
        if ch == "G":
            return nxt, self.goal_reward, True
        if ch == "~" and self.np_random.random() < self.p_fall:
            return nxt, -self.fall_penalty, True
        if ch == "w" and self.np_random.random() < self.p_gust:
            return nxt, -1 - self.gust_penalty, False
        if ch == "m":
            return nxt, -1 - self.mud_penalty, False
        return nxt, -1, False

    def _outcomes(self, state: int, action: int) -> list[tuple[float, int, int, bool]]:
        nxt = self._move(state, action)
        ch = self.char(nxt)
        if ch == "G":
            return [(1.0, nxt, self.goal_reward, True)]
        if ch == "~":
            return [(self.p_fall, nxt, -self.fall_penalty, True), (1 - self.p_fall, nxt, -1, False)]
        if ch == "w":
            return [(self.p_gust, nxt, -1 - self.gust_penalty, False), (1 - self.p_gust, nxt, -1, False)]
        if ch == "m":
            return [(1.0, nxt, -1 - self.mud_penalty, False)]
        return [(1.0, nxt, -1, False)]
