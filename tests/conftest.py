"""Shared fixtures: the data directory (skip with a reason when absent) and the NB201 space."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from zeronas.spaces import get_space


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use tiny tensors: one thread is faster and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data_dir() -> Path | None:
    raw = os.environ.get("ZERONAS_DATA")
    if raw and Path(raw).is_dir():
        return Path(raw)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if path is None:
        pytest.skip("ZERONAS_DATA is not set to an existing directory (benchmark data absent)")
    return path


@pytest.fixture(scope="session")
def nb201_csv(data_dir: Path) -> Path:
    path = data_dir / "nb201" / "nats_tss_200ep_test_accuracy.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def cifar_dir(data_dir: Path) -> Path:
    path = data_dir / "cifar10" / "cifar-10-batches-py"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def nb201():
    return get_space("nb201")
