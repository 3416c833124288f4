"""Shared test matrix for the Python `websockets` interop peers.

Both peer_client.py and peer_server.py run the same echo matrix, just in
opposite directions. Every case prints exactly one line:

    PASS <peer> <role> <case>
    FAIL <peer> <role> <case>: <why>

Case names never contain ": " so the driver can split on it.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

PEER = "python"

# 64 MiB is what echo_server accepts; allow a bit of slack above it.
MAX_SIZE = 80 * 1024 * 1024
# A 16 MiB echo takes well under a second on loopback; 30 s means "hung".
CASE_TIMEOUT = 30.0
# Whole-script limit, so a hanging peer cannot stall the driver for long.
SCRIPT_TIMEOUT = 120.0

SIZES = [
    ("0B", 0),
    ("125B", 125),
    ("126B", 126),
    ("64KiB", 64 * 1024),
    ("1MiB", 1024 * 1024),
    ("16MiB", 16 * 1024 * 1024),
]

# ASCII, Cyrillic (2-byte UTF-8) and an emoji (4-byte UTF-8).
PATTERN = "Hello, Привет мир! 🚀 "


def text_of_size(n: int) -> str:
    """A non-ASCII string of exactly n UTF-8 bytes.

    The repeated pattern is cut at a character boundary at or below n bytes,
    then padded with ASCII 'x' up to exactly n bytes (at most 3 pad bytes).
    """
    pat = PATTERN.encode("utf-8")
    raw = (pat * (n // len(pat) + 1))[:n]
    # Drop a trailing partial character, if the cut landed inside one.
    s = raw.decode("utf-8", errors="ignore")
    s += "x" * (n - len(s.encode("utf-8")))
    assert len(s.encode("utf-8")) == n
    return s


def binary_of_size(n: int) -> bytes:
    return random.Random(0x50C4 + n).randbytes(n)


def fragmented_text() -> tuple[list[bytes], str]:
    """UTF-8 fragments of one text message; two cuts split a character.

    Fragment boundaries: inside a 2-byte Cyrillic letter, inside the 4-byte
    emoji, an empty continuation frame, and a plain ASCII cut.
    """
    whole = ("fragmented Привет 🚀 message; " * 40).encode("utf-8")
    i1 = whole.index("П".encode("utf-8")) + 1  # splits a 2-byte char
    i2 = whole.index("🚀".encode("utf-8"), i1) + 2  # splits a 4-byte char
    i3 = len(whole) // 2
    i3 = whole.index(b" ", i3)  # ASCII boundary
    frags = [whole[:i1], whole[i1:i2], b"", whole[i2:i3], whole[i3:]]
    assert b"".join(frags) == whole
    return frags, whole.decode("utf-8")


def fragmented_binary() -> tuple[list[bytes], bytes]:
    """Binary fragments, including one larger than 65535 bytes."""
    rng = random.Random(0xF2A6)
    sizes = [1, 125, 126, 70000, 0, 4096]
    frags = [rng.randbytes(s) for s in sizes]
    return frags, b"".join(frags)


PING_PAYLOAD = b"interop-ping \x00\xff\xfe"
PING_PAYLOAD_MAX = bytes(range(125))


def describe_mismatch(got, expected) -> str:
    if type(got) is not type(expected):
        kind = {str: "text", bytes: "binary"}
        return (
            f"expected {kind.get(type(expected), type(expected).__name__)} "
            f"message, got {kind.get(type(got), type(got).__name__)}"
        )
    if len(got) != len(expected):
        return f"length {len(got)} != expected {len(expected)}"
    for i, (a, b) in enumerate(zip(got, expected)):
        if a != b:
            return f"first difference at index {i}"
    return "differs"


class Reporter:
    def __init__(self, role: str):
        self.role = role
        self.passed = 0
        self.failed = 0

    def ok(self, case: str, note: str = "") -> None:
        self.passed += 1
        extra = f" ({note})" if note else ""
        print(f"PASS {PEER} {self.role} {case}{extra}", flush=True)

    def fail(self, case: str, why: str) -> None:
        self.failed += 1
        why = " ".join(str(why).split()) or "failed"
        print(f"FAIL {PEER} {self.role} {case}: {why}", flush=True)

    async def run(self, case: str, coro_fn, timeout: float = CASE_TIMEOUT) -> bool:
        t0 = time.monotonic()
        try:
            note = await asyncio.wait_for(coro_fn(), timeout)
        except asyncio.TimeoutError:
            self.fail(case, f"timed out after {timeout:.0f}s")
            return False
        except AssertionError as e:
            self.fail(case, str(e) or "assertion failed")
            return False
        except Exception as e:  # noqa: BLE001 - report anything
            self.fail(case, f"{type(e).__name__}: {e}")
            return False
        took = time.monotonic() - t0
        self.ok(case, note if isinstance(note, str) else f"{took:.2f}s")
        return True


def echo_cases():
    """(case name, message to send as-is) for the plain echo matrix."""
    for label, n in SIZES:
        yield f"text-{label}", lambda n=n: text_of_size(n)
    for label, n in SIZES:
        yield f"binary-{label}", lambda n=n: binary_of_size(n)


async def expect_echo(ws, expected) -> None:
    got = await ws.recv()
    if type(got) is not type(expected) or got != expected:
        raise AssertionError(describe_mismatch(got, expected))


async def echo_matrix(rep: Reporter, get_ws) -> None:
    """Send every matrix message over get_ws() and expect it echoed back."""
    for case, make in echo_cases():
        msg = make()

        async def one(msg=msg):
            ws = await get_ws()
            await ws.send(msg)
            await expect_echo(ws, msg)

        await rep.run(case, one)

    frags, whole_text = fragmented_text()

    async def frag_text():
        ws = await get_ws()
        # text=True sends the raw UTF-8 byte chunks as Text + Continuation
        # frames, so a fragment boundary can fall inside a character.
        await ws.send(frags, text=True)
        await expect_echo(ws, whole_text)
        return f"{len(frags)} fragments, 2 split a multibyte char, 1 empty"

    await rep.run("fragmented-text", frag_text)

    bfrags, whole_bin = fragmented_binary()

    async def frag_bin():
        ws = await get_ws()
        await ws.send(bfrags)
        await expect_echo(ws, whole_bin)
        return f"{len(bfrags)} fragments, {len(whole_bin)} B"

    await rep.run("fragmented-binary", frag_bin)

    for case, payload in (("ping-pong", PING_PAYLOAD), ("ping-pong-125B", PING_PAYLOAD_MAX)):

        async def ping(payload=payload):
            ws = await get_ws()
            # websockets only resolves the waiter on a Pong whose payload
            # equals this Ping's payload.
            waiter = await ws.ping(payload)
            latency = await asyncio.wait_for(waiter, 10)
            return f"{len(payload)} B payload, {latency * 1000:.1f} ms"

        await rep.run(case, ping)


def main_exit(rep: Reporter) -> int:
    print(
        f"# {PEER} {rep.role}: {rep.passed} passed, {rep.failed} failed",
        file=sys.stderr,
        flush=True,
    )
    return 1 if rep.failed or rep.passed == 0 else 0
