#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The tap side of guest/bench_net.c: counts the guest's frames, sends it the ones it asks for.

    net_peer.py TAP NONCE READY RESULT

On the tap, through one AF_PACKET socket of ethertype 0x88b5: every 'T' frame with our nonce is
counted per size; a 'G' frame (phase P, count N, size S) makes the peer send N 'R' frames of S
bytes to the guest's MAC as fast as it can, then three 'E' frames; a repeated 'G' for a phase
already sent is ignored. Writes READY once listening; RESULT, rewritten after every phase and at
the end (SIGTERM or 120 s), holds lines
    tx <size> <frames seen>
    rx <phase> <size> <frames sent> <seconds the sending took>
"""
import os
import signal
import socket
import struct
import sys
import time

ETH = 0x88B5
MAGIC = b"PTVMBNET"
OFF_NONCE, OFF_SEQ, OFF_KIND, OFF_PHASE, OFF_COUNT, OFF_SIZE = 22, 26, 30, 31, 35, 39


def main():
    tap, nonce, ready, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH))
    # 32 MiB each way: a burst of small frames must not overflow the socket before we read it
    for opt in (33, 32):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE (root)
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 32 << 20)
        except OSError:
            pass
    s.bind((tap, ETH))
    s.settimeout(0.2)
    me = bytes.fromhex("02aabbccddee")
    tx = {}
    rx = []
    done = set()

    def dump(*_):
        with open(result + ".tmp", "w") as f:
            for size, c in sorted(tx.items()):
                f.write("tx %d %d\n" % (size, c))
            for r in rx:
                f.write("rx %d %d %d %.6f\n" % r)
        os.replace(result + ".tmp", result)

    def term(*_):
        dump()
        sys.exit(0)

    signal.signal(signal.SIGTERM, term)
    open(ready, "w").write("ready\n")
    buf = bytearray(2048)
    mine = struct.pack("<I", nonce & 0xFFFFFFFF)
    end = time.time() + 120
    while time.time() < end:
        try:
            n = s.recv_into(buf)
        except socket.timeout:
            continue
        if n < 60 or buf[14:22] != MAGIC or buf[OFF_NONCE:OFF_NONCE + 4] != mine:
            continue
        kind = buf[OFF_KIND]
        if kind == ord("T"):
            tx[n] = tx.get(n, 0) + 1
        elif kind == ord("G"):
            phase, count, size = struct.unpack_from("<IIH", buf, OFF_PHASE)
            if phase in done:
                continue
            done.add(phase)
            dst = bytes(buf[6:12])
            head = dst + me + struct.pack("!H", ETH) + MAGIC + mine
            frames = []
            for seq in range(min(count, 1024)):
                f = bytearray(size)
                f[:OFF_SEQ] = head
                for i in range(OFF_KIND + 1, size):
                    f[i] = (seq + i) & 0xFF
                frames.append(f)
            t0 = time.monotonic()
            send = s.send
            for seq in range(count):
                f = frames[seq % len(frames)]
                struct.pack_into("<IBI", f, OFF_SEQ, seq, ord("R"), phase)
                f[size - 1] = (seq + size - 1) & 0xFF
                while True:
                    try:
                        send(f)
                        break
                    except BlockingIOError:
                        pass
                    except socket.timeout:
                        pass
            secs = time.monotonic() - t0
            ef = bytearray(head + struct.pack("<IBI", 0, ord("E"), phase)).ljust(60, b"\0")
            for _ in range(3):
                time.sleep(0.01)
                s.send(ef)
            rx.append((phase, size, count, secs))
            dump()
    dump()


if __name__ == "__main__":
    main()
