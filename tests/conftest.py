"""Shared test settings: one torch thread per process (the suite runs under pytest-xdist on 2 cores,
where torch's default thread pool oversubscribes the CPU and slows SB3 runs several-fold)."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; rdo_gym alone does not need it
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
