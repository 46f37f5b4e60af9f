"""Fixtures for in-process tests of the local Runtype: a fake monotonic clock and a ``State`` that uses it."""

from __future__ import annotations

import pytest

from runtype_provider.testing.fake.handlers import State
from runtype_provider.testing.fake.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> State:
    return State(Settings(queued_seconds=1, running_seconds=10), clock=clock)
