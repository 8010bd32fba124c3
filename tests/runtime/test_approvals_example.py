"""`examples/approvals_payments.py` runs: the real payee is approved, the injected one refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "approvals_payments.py"


def test_the_approvals_example_pays_only_the_approved_payee() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = [re.sub(r"apr-[0-9a-f]+", "apr-ID", line) for line in done.stdout.splitlines()]
    assert lines == [
        "  asked: pay{'recipient': 'DE89 3704 0044 0532 0130 00', 'amount': 120.0} because "
        "untrusted(args.recipient)",
        "approval_denied | The call of tool 'pay' was refused by dana (request apr-ID): unknown account.",
        "  asked: pay{'recipient': 'GB29 NWBK 6016 1331 9268 19', 'amount': 120.0} because "
        "untrusted(args.recipient)",
        "paid 120.00 to GB29 NWBK 6016 1331 9268 19",
        "argument_invalid: Argument 'amount' of tool 'pay' does not satisfy max: 500.",
        "pay calls charged: 1.0",
    ]
