"""The flagship pricing service as its pod runs it, for the supervisor: a server, its traffic, its probe.

Run inside the service's environment image with the checkout at /app (read-only, no network):
starts the real ``uvicorn app.main:app`` on the container's loopback, sends the storefront's
traffic (health checks, ordinary carts, then a cart with the mug whose discount divisor the
merchandising feed left at 0.0), and, like a failing liveness probe, stops the server and exits 1
when the service answers 500. The supervisor then restarts it with a back-off, so the pod
crash-loops, and its log holds uvicorn's own traceback with the service's frames under /app.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

BASE = "http://127.0.0.1:8080"
CARTS: tuple[Mapping[str, object], ...] = (
    {"items": [{"sku": "TEE-1", "price": 24.0, "quantity": 1, "discount": 1.25}]},
    {"items": [{"sku": "BAG-3", "price": 30.0, "quantity": 1, "discount": 1.6}]},
    {"items": [{"sku": "MUG-0", "price": 12.5, "quantity": 1, "discount": 0.0}]},
)


def _call(path: str, body: Mapping[str, object] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> int:
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                               "--port", "8080"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _call("/health") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("liveness probe failed: the server never became healthy", flush=True)
                return 1
            time.sleep(0.1)
        for cart in CARTS:
            if _call("/quote", cart) >= 500:
                time.sleep(0.2)  # let the server finish writing its traceback
                print("liveness probe failed: HTTP 500; restarting the container", flush=True)
                return 1
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
