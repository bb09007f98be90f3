"""Exact distributional dynamic programming on stock-augmented tabular MDPs."""

from rdo_gym.dp.model import TabularMDP

__all__ = ["TabularMDP"]
