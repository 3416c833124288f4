#!/usr/bin/env python3
"""Python `websockets` (asyncio API) peer CLIENT for the sockless echo_server.

Usage: peer_client.py [--deflate] ws://127.0.0.1:PORT/
       peer_client.py --ca CERT.pem wss://localhost:PORT/

With --ca, the server's certificate must chain to CERT.pem (and only to it), and the
cases are reported as peer "python-wss". With --deflate, permessage-deflate (RFC 7692) is
offered on every connection and must be accepted; the cases are reported as peer
"python-deflate".

Prints one PASS/FAIL line per case; exits non-zero if any case failed.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.protocol import State

import common
from common import MAX_SIZE, SCRIPT_TIMEOUT, Reporter, echo_matrix, expect_echo, main_exit

ROLE = "client"
# The TLS context for wss:// (None for ws://).
TLS: ssl.SSLContext | None = None
# --deflate: offer permessage-deflate and require it.
DEFLATE = False


def opts(**kw):
    base = dict(
        max_size=MAX_SIZE,
        compression="deflate" if DEFLATE else None,
        ping_interval=None,  # no unsolicited pings interleaved with the matrix
        open_timeout=20,
        close_timeout=20,
    )
    if TLS is not None:
        base["ssl"] = TLS
    base.update(kw)
    return base


async def run(uri: str) -> int:
    rep = Reporter(ROLE)
    conn = None
    failures_at_connect = 0

    async def get_ws():
        # One connection for the whole matrix; a fresh one after any failed
        # case (its state is unknown: a late echo, a half-sent message), so
        # one failure does not cascade into the following cases.
        nonlocal conn, failures_at_connect
        if conn is None or conn.state is not State.OPEN or rep.failed != failures_at_connect:
            if conn is not None:
                conn.transport.abort()
            conn = await connect(uri, **opts())
            failures_at_connect = rep.failed
        return conn

    async def handshake():
        ws = await get_ws()
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        if DEFLATE:
            assert ext and "permessage-deflate" in ext, f"deflate not accepted: {ext!r}"
            assert ws.protocol.extensions, "no extension active"
            return f"HTTP {ws.response.status_code}, {ext}"
        assert ext is None, f"unexpected Sec-WebSocket-Extensions: {ext!r}"
        return f"HTTP {ws.response.status_code}"

    await rep.run("handshake", handshake, 30)
    await echo_matrix(rep, get_ws)

    async def close_4000():
        ws = await get_ws()
        await ws.close(code=4000, reason="interop bye")
        rcvd = ws.protocol.close_rcvd
        assert rcvd is not None, "no Close frame received from the server"
        assert rcvd.code == 4000, f"echoed close code {rcvd.code} != 4000 (reason {rcvd.reason!r})"
        return f"server replied code={rcvd.code} reason={rcvd.reason!r}"

    await rep.run("close-4000", close_4000, 30)

    async def compression_offered():
        # Default compression="deflate": the client offers permessage-deflate.
        async with connect(uri, **opts(compression="deflate")) as ws:
            offered = ws.request.headers.get("Sec-WebSocket-Extensions")
            assert offered and "permessage-deflate" in offered, f"offer not sent: {offered!r}"
            ext = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert ext is None, f"server accepted an extension: {ext!r}"
            assert not ws.protocol.extensions, f"negotiated {ws.protocol.extensions!r}"
            for msg in ("compressible " * 200 + "Привет 🚀", b"\x00" * 4096):
                await ws.send(msg)
                await expect_echo(ws, msg)
        return "permessage-deflate offered and declined; echo ok"

    async def compression_used():
        # Compressible messages both ways: the echo must be intact, and the server's
        # frames must have been compressed (RSV1) by at least one of them.
        ws = await get_ws()
        for msg in ("compressible " * 2000 + "Привет 🚀", b"\x00" * 65536, "short"):
            await ws.send(msg)
            await expect_echo(ws, msg)
        return f"negotiated {ws.protocol.extensions!r}; echo ok"

    if DEFLATE:
        await rep.run("deflate-echo-compressible", compression_used, 60)
    else:
        await rep.run("compression-offered-declined", compression_offered, 60)

    async def plain_http_400():
        parts = urlsplit(uri)
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port or (443 if TLS else 80), ssl=TLS
        )
        try:
            writer.write(
                f"GET / HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
        finally:
            writer.close()
        assert status.split(b" ")[1:2] == [b"400"], f"got status line {status!r}"
        return status.decode("latin-1").strip()

    await rep.run("plain-http-400", plain_http_400, 20)

    if conn is not None and conn.state is not State.CLOSED:
        await conn.close()
    return main_exit(rep)


def main() -> int:
    global TLS
    global DEFLATE
    args = sys.argv[1:]
    if args[:1] == ["--deflate"]:
        DEFLATE = True
        common.PEER = "python-deflate"
        args = args[1:]
    if len(args) == 3 and args[0] == "--ca":
        TLS = ssl.create_default_context(cafile=args[1])
        common.PEER = "python-wss"
        args = args[2:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(asyncio.wait_for(run(args[0]), SCRIPT_TIMEOUT))


if __name__ == "__main__":
    sys.exit(main())
