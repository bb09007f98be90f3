"""The README's demo and the examples run as scripts and print the figures they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_reports_the_exact_optimum():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "cvar:0.1   -> -10.000" in out
    assert "CVaR_0.25 via the stock search: -3.800" in out
    # The DP line must carry the documented reference optimum of the CVaR benchmark.
    import rdo_envs

    ref = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")]
    assert f"CVaRGrid CVaR_0.1: optimum {ref.optimum:.3f}" in out
