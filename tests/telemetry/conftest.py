from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.telemetry.support import Telemetry

# arize-phoenix-client installs a pytest plugin that claims the `phoenix` marker and records every
# test marked with it as a Phoenix experiment run (over the network, to PHOENIX_COLLECTOR_ENDPOINT
# or localhost:6006). Our `phoenix` marker means "end-to-end test against a Phoenix we start";
# keep that plugin offline (it reads this before it looks at the marked tests). CI also passes
# `-p no:phoenix`.
os.environ.setdefault("PHOENIX_TEST_TRACKING", "false")


@pytest.fixture
def tel() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.shutdown()
