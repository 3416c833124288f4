#!/usr/bin/env python3
"""Python `websockets` (asyncio API) peer SERVER for the sockless echo_client.

Usage: peer_server.py [--deflate] [--tls CERT.pem KEY.pem] PORT [EXPECTED_REQUEST_PATH]

Listens on 127.0.0.1:PORT, prints `ready` once listening, and runs the echo
matrix on the first connection: every message must come back unchanged, a
ping must be answered, and the final Close (4001 "server bye") must be
echoed with code 4001. Exits non-zero on any failure or if no client
connected within 30 s. With --tls it serves wss:// with that certificate and key, and
the cases are reported as peer "python-wss". With --deflate it accepts permessage-deflate
(RFC 7692), checks that the client offered and negotiated it, and the cases are reported
as peer "python-deflate".
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from websockets.asyncio.server import serve

import common
from common import MAX_SIZE, SCRIPT_TIMEOUT, Reporter, echo_matrix, main_exit

ROLE = "server"
CONNECT_TIMEOUT = 30.0
# --deflate: permessage-deflate accepted and required.
DEFLATE = False


async def run(port: int, expected_path: str | None, tls: ssl.SSLContext | None) -> int:
    rep = Reporter(ROLE)
    connected = asyncio.Event()
    done = asyncio.Event()
    busy = False

    async def handler(ws):
        nonlocal busy
        if busy:
            await ws.close(1013, "only one client expected")
            return
        busy = True
        connected.set()
        try:
            if expected_path is not None:

                async def path():
                    got = ws.request.path
                    assert got == expected_path, f"request path {got!r} != {expected_path!r}"
                    return got

                await rep.run("request-path", path, 5)

            if DEFLATE:

                async def negotiated():
                    ext = ws.response.headers.get("Sec-WebSocket-Extensions")
                    assert ext and "permessage-deflate" in ext, f"not negotiated: {ext!r}"
                    assert ws.protocol.extensions, "no extension active"
                    return ext

                await rep.run("deflate-negotiated", negotiated, 5)

            async def get_ws():
                return ws

            await echo_matrix(rep, get_ws)

            async def close_4001():
                await ws.close(code=4001, reason="server bye")
                rcvd = ws.protocol.close_rcvd
                assert rcvd is not None, "no Close frame received from the client"
                assert rcvd.code == 4001, (
                    f"echoed close code {rcvd.code} != 4001 (reason {rcvd.reason!r})"
                )
                return f"client replied code={rcvd.code} reason={rcvd.reason!r}"

            await rep.run("close-4001", close_4001, 30)
        finally:
            done.set()

    async with serve(
        handler,
        "127.0.0.1",
        port,
        max_size=MAX_SIZE,
        compression="deflate" if DEFLATE else None,
        ping_interval=None,
        close_timeout=20,
        ssl=tls,
    ):
        print("ready", flush=True)
        try:
            await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT)
        except asyncio.TimeoutError:
            rep.fail("client-connected", f"no client connected within {CONNECT_TIMEOUT:.0f}s")
            return 1
        try:
            await asyncio.wait_for(done.wait(), SCRIPT_TIMEOUT)
        except asyncio.TimeoutError:
            rep.fail("matrix", f"did not finish within {SCRIPT_TIMEOUT:.0f}s")
    return main_exit(rep)


def main() -> int:
    global DEFLATE
    args = sys.argv[1:]
    tls = None
    if args[:1] == ["--deflate"]:
        DEFLATE = True
        common.PEER = "python-deflate"
        args = args[1:]
    if len(args) >= 3 and args[0] == "--tls":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args[1], args[2])
        common.PEER = "python-wss"
        args = args[3:]
    if len(args) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    port = int(args[0])
    expected_path = args[1] if len(args) == 2 else None
    return asyncio.run(run(port, expected_path, tls))


if __name__ == "__main__":
    sys.exit(main())
