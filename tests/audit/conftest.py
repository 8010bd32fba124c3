from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.telemetry.support import Telemetry


@pytest.fixture
def tel() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.shutdown()
