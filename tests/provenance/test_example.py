"""`examples/provenance_payments.py` runs and refuses the injected payee."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "provenance_payments.py"


def test_the_payments_example_refuses_the_injected_payee() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "argument_untrusted recipient found in read_file",
        "paid 120.00 to GB29 NWBK 6016 1331 9268 19",
        "True",
        "condition_failed",
    ]
