"""The container's health check: healthy when ChatQL's GET /readyz answers 200 (the store
answers and the change feed runs). Standard library only; exit 0 healthy, 1 not."""

import os
import sys
import urllib.request

port = os.environ.get("CHATQL_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # refused, 503, timeout: all mean "not ready"
    print(f"not ready: {exc}", file=sys.stderr)
    sys.exit(1)
