#!/usr/bin/env python3
"""Python websockets at the protocol level (its sans-IO `Protocol`, no sockets) on the
compressed JSON chat workload that `sockless-compare deflate` wrote: receive (server role,
inflating masked client frames fed in 64 KiB pieces) and send (server role, compressing).

Usage: deflate_python.py WIRE_FILE MESSAGES no_context_takeover(0|1) RUNS
Prints: python-websockets receive M_MSG_S send M_MSG_S
"""

import sys
import time

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State


def extension(nct: bool) -> PerMessageDeflate:
    return PerMessageDeflate(
        remote_no_context_takeover=nct,
        local_no_context_takeover=nct,
        remote_max_window_bits=15,
        local_max_window_bits=15,
    )


def receive(wire: bytes, nct: bool) -> int:
    p = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    p.extensions = [extension(nct)]
    n = 0
    for i in range(0, len(wire), 65536):
        p.receive_data(wire[i : i + 65536])
        for frame in p.events_received():
            if frame.opcode == Opcode.TEXT and frame.fin:
                n += 1
    return n


def send(messages, nct: bool) -> int:
    p = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    p.extensions = [extension(nct)]
    total = 0
    for m in messages:
        p.send_text(m)
        for chunk in p.data_to_send():
            total += len(chunk)
    return total


def main() -> None:
    wire = open(sys.argv[1], "rb").read()
    count = int(sys.argv[2])
    nct = sys.argv[3] == "1"
    runs = int(sys.argv[4])
    # The messages themselves, from one inflating pass.
    p = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    p.extensions = [extension(nct)]
    p.receive_data(wire)
    messages = [f.data for f in p.events_received() if f.opcode == Opcode.TEXT]
    assert len(messages) == count, (len(messages), count)
    assert receive(wire, nct) == count
    rt, st = [], []
    for _ in range(runs):
        t = time.perf_counter()
        receive(wire, nct)
        rt.append(time.perf_counter() - t)
        t = time.perf_counter()
        send(messages, nct)
        st.append(time.perf_counter() - t)
    rt.sort()
    st.sort()
    print(
        f"python-websockets receive {count / rt[len(rt) // 2] / 1e6:.3f} send {count / st[len(st) // 2] / 1e6:.3f}"
    )


if __name__ == "__main__":
    main()
