"""``python -m guardrail_mcp --manifest M.yaml -- UPSTREAM_COMMAND [ARGS...]``."""

from __future__ import annotations

import sys

from guardrail_mcp import main

if __name__ == "__main__":
    sys.exit(main())
