"""The `Examples:` blocks of the docstrings run as written (doctest), and the main public classes
and functions have one."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["rdo_gym", "rdo_envs", "rdo_sb3", "rdo_cli"]
MODULES = sorted(
    name
    for package in PACKAGES
    for name in [package, *(m.name for m in pkgutil.walk_packages(importlib.import_module(package).__path__,
                                                                   package + "."))]
    if not name.endswith("__main__")
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Public objects whose docstring must carry a runnable example.
WITH_EXAMPLES = [
    "rdo_gym.objectives.make_objective",
    "rdo_gym.objectives.CVaR",
    "rdo_gym.objectives.ExpectedUtility",
    "rdo_gym.stock.StockAugmentation",
    "rdo_gym.terminal_reward.TerminalObjectiveReward",
    "rdo_sb3.detan.DEtaN",
]




@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in finder.find(module, module_name):
        if test.examples and test.name.startswith(module_name):
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {module_name} (see the output above)"


@pytest.mark.parametrize("path", WITH_EXAMPLES)
def test_public_api_has_a_runnable_example(path):
    module_name, name = path.rsplit(".", 1)
    obj = getattr(importlib.import_module(module_name), name)
    tests = doctest.DocTestFinder(recurse=False).find(obj, path)
    assert any(t.examples for t in tests), f"{path} has no doctest example"
