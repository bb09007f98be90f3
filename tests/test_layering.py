"""The import contracts between the packages, read from the source (ast), and torch-free rdo_gym.

* ``rdo_gym`` (the core) imports none of ``rdo_sb3``, ``rdo_envs``, ``rdo_cli``, and never torch,
  Stable-Baselines3, sb3-contrib or matplotlib at module level (inside a function is allowed);
* ``rdo_envs`` and ``rdo_sb3`` import only ``rdo_gym`` of the project (they are independent);
* nothing imports ``rdo_cli`` but ``rdo_cli`` itself: not the packages, not ``benchmarks/``,
  not ``examples/``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rdo_gym", "rdo_envs", "rdo_sb3", "rdo_cli")
HEAVY = ("torch", "stable_baselines3", "sb3_contrib", "matplotlib")
#: Which of the project's packages each one may import.
ALLOWED = {"rdo_gym": {"rdo_gym"}, "rdo_envs": {"rdo_gym", "rdo_envs"}, "rdo_sb3": {"rdo_gym", "rdo_sb3"},
           "rdo_cli": set(PACKAGES)}


def _imports(path: Path, package: str | None = None) -> list[tuple[str, bool, int]]:
    """``(imported module, at import time, line)`` of every import in a file.

    "At import time" is module level, including ``if``/``try`` blocks and class bodies, but not
    function bodies. A relative import counts as an import of ``package`` (default: the file's
    top-level folder).
    """
    package = package or path.relative_to(ROOT).parts[0]
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((alias.name, at_import, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((package if node.level else (node.module or ""), at_import, node.lineno))
        inside = at_import and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(path.read_text(), filename=str(path)), True)
    return out


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_the_layers_below(package):
    files = _files(package)
    assert files
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in files
           for name, _, line in _imports(path)
           if name.split(".")[0] in PACKAGES and name.split(".")[0] not in ALLOWED[package]]
    assert not bad, "\n".join(bad)


def test_rdo_gym_never_imports_torch_sb3_or_matplotlib_at_module_level():
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in _files("rdo_gym")
           for name, top, line in _imports(path) if top and name.split(".")[0] in HEAVY]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["benchmarks", "examples"])
def test_scripts_use_the_libraries_not_the_command_line(folder):
    files = _files(folder)
    assert files
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}" for path in files
           for name, _, line in _imports(path) if name.split(".")[0] == "rdo_cli"]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_function_level_class_level_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy\nfrom . import stock\ndef f():\n    import torch\nclass C:\n    import matplotlib\n"
                     "try:\n    from sb3_contrib import QRDQN\nexcept ImportError:\n    pass\n")
    assert _imports(probe, "rdo_gym") == [("numpy", True, 1), ("rdo_gym", True, 2), ("torch", False, 4),
                                          ("matplotlib", True, 6), ("sb3_contrib", True, 8)]


def test_importing_rdo_gym_loads_neither_torch_nor_matplotlib():
    code = ("import sys, rdo_gym, rdo_gym.dp, rdo_gym.presets; "
            "print(sorted(m for m in ('torch', 'stable_baselines3', 'sb3_contrib', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_rdo_envs_loads_neither_torch_nor_matplotlib():
    code = ("import sys, rdo_envs, rdo_envs.plots; "
            "print(sorted(m for m in ('torch', 'stable_baselines3', 'sb3_contrib', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
