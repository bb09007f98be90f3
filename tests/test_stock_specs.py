"""String forms of the initial-stock samplers: ``make_initial_stock(spec)`` inverts ``sampler.spec``,
and ``StockAugmentation(initial_stock="...")`` (a YAML ``env_wrapper:`` entry) reads them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import rdo_envs  # noqa: F401  (registers the benchmarks)
from rdo_gym import ChoiceStock, StockAugmentation, StockRange, UniformStock, make_initial_stock

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("spec", "sampler"), [
    ("uniform:-8:8", UniformStock(-8, 8)),
    ("uniform-int:-10:6", UniformStock(-10, 6, integer=True)),
    ("uniform:-2.5:0.1", UniformStock(-2.5, 0.1)),
    ("choice:0,2,5", ChoiceStock([0, 2, 5])),
    ("choice:-1,3:0.25,0.75", ChoiceStock([-1, 3], p=[0.25, 0.75])),
])
def test_documented_specs_parse_and_print_back(spec, sampler):
    assert make_initial_stock(spec) == sampler
    assert sampler.spec == spec == str(sampler)


@given(finite, finite, st.booleans())
def test_uniform_round_trips(a, b, integer):
    low, high = sorted((a, b))
    if integer:
        low, high = float(round(low)), float(round(high))
    sampler = UniformStock(low, high, integer=integer)
    assert make_initial_stock(sampler.spec) == sampler


@given(st.lists(finite, min_size=1, max_size=6), st.booleans())
def test_choice_round_trips(values, weighted):
    p = None
    if weighted:
        w = np.arange(1.0, len(values) + 1.0)
        p = (w / w.sum()).tolist()
    sampler = ChoiceStock(values, p=p)
    back = make_initial_stock(sampler.spec)
    assert back == sampler
    assert back.spec == sampler.spec


def test_numbers_and_samplers_pass_through():
    assert make_initial_stock(4.0) == 4.0
    assert make_initial_stock(" uniform:0:1 ") == UniformStock(0, 1)
    sampler = UniformStock(0, 1)
    assert make_initial_stock(sampler) is sampler
    fn = lambda rng: 1.0
    assert make_initial_stock(fn) is fn


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", "accepted forms"),
    ("nan", "not a string"),
    ("3", "a fixed initial stock is a number, not a string"),
    ("uniform:1", "two bounds"),
    ("uniform:a:b", "two finite numbers"),
    ("uniform:2:1", "low <= high"),
    ("uniform-int:0.5:2", "integer bounds"),
    ("choice:1,x", "comma-separated list"),
    ("choice:1,2:0.5", "probabilities"),
    ("choice:1:1:1", "optional probabilities"),
    ("gauss:0:1", "unknown sampler 'gauss'"),
])
def test_bad_specs_are_refused_with_the_accepted_forms(spec, message):
    with pytest.raises(ValueError, match=message):
        make_initial_stock(spec)
    with pytest.raises(ValueError, match=message):
        StockAugmentation(gym.make("rdo/CVaRGrid-v0"), initial_stock=spec)


def test_stock_augmentation_reads_a_string_sampler():
    env = StockAugmentation(gym.make("rdo/CVaRGrid-v0"), gamma=1.0, initial_stock="uniform-int:-10:6",
                            flatten=True, stock_scale=0.1)
    assert env.initial_stock == UniformStock(-10, 6, integer=True)
    assert env.stock_layout.support == StockRange(-10, 6, integer=True)
    stocks = {env.reset(seed=s)[1]["initial_stock"] for s in range(200)}
    assert stocks <= set(range(-10, 7)) and len(stocks) > 10


def test_the_env_spec_keeps_the_string_and_remakes_the_env():
    env = StockAugmentation(gym.make("rdo/CVaRGrid-v0"), initial_stock="choice:0,2,5", flatten=True)
    again = gym.make(env.spec)
    assert again.initial_stock == ChoiceStock([0, 2, 5])
    assert again.reset(seed=1)[1]["initial_stock"] == env.reset(seed=1)[1]["initial_stock"]


def test_a_zoo_style_yaml_env_wrapper_entry():
    entry = yaml.safe_load("""
env_wrapper:
  - rdo_gym.StockAugmentation: {gamma: 1.0, initial_stock: "uniform-int:-10:6", flatten: true, stock_scale: 0.1}
""")["env_wrapper"][0]
    (name, kwargs), = entry.items()
    assert name == "rdo_gym.StockAugmentation"
    env = StockAugmentation(gym.make("rdo/TargetGrid-v0"), **kwargs)
    assert env.initial_stock == UniformStock(-10, 6, integer=True)
    assert env.initial_stock.spec == kwargs["initial_stock"]
