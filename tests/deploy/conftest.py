"""The repository root and the validators installed with the dev tools, as fixtures."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """The path of a validator from the project's environment; missing means a failure."""
    bin_dir = Path(sys.executable).parent

    def find(name: str) -> str:
        path = bin_dir / name
        if not path.exists():
            pytest.fail(f"{name} is not installed in {bin_dir}: run `make install`")
        return str(path)

    return find
