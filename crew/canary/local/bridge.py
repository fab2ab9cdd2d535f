"""In-container bridge of the local canary: the service's loopback port, offered as a Unix socket.

Runs inside the service's container (``--network none``, so the service's port is reachable
only from inside): it starts the service's own command, listens on a Unix socket in a folder
bind-mounted from the host and pipes every connection to ``127.0.0.1:PORT``. It exits with the
service's exit code when the service exits (the host then restarts the container, as a kubelet
would), and stops the service at its deadline, so a forgotten container does not live on.
Standard library only: it runs on the service's Python, whatever that is.

    python bridge.py --socket /healcrew/sock/svc.sock --port 8080 --deadline 300 -- CMD...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

CHUNK = 65536
EXIT_LINE = "bridge: the service exited with "
"""How the bridge's last line (on stderr) starts; the host leaves it out when it quotes the service's logs."""


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(sock_path: str, port: int, child: subprocess.Popen, deadline: float) -> int:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_w.close()  # the service is not listening (yet): the host sees a closed connection
            return
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))

    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock_path)
    server = await asyncio.start_unix_server(handle, path=sock_path)
    os.chmod(sock_path, 0o777)  # the host side may run as another user than the container
    try:
        while child.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(sock_path)
    return child.returncode if child.returncode is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deadline", type=float, required=True, help="seconds until the bridge stops")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no service command")
    child = subprocess.Popen(command)

    def stop(_signum: int, _frame: object) -> None:
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = asyncio.run(_serve(args.socket, args.port, child, time.monotonic() + args.deadline))
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    print(f"{EXIT_LINE}{code}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
