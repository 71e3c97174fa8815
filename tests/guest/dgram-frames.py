#!/usr/bin/env python3
"""Host side of a frame echo test over a netvsp NIC's `dgram` backend.

    dgram-frames.py PEER NIC_SOCK NIC_MAC COUNT:SIZE[,COUNT:SIZE...] [WINDOW] [TIMEOUT_S]
    dgram-frames.py PEER NIC_SOCK NIC_MAC arp:IP [TIMEOUT_S]

Binds PEER (the NIC's backend `remote`) and, for each COUNT:SIZE in turn,
sends COUNT Ethernet frames of SIZE bytes to NIC_SOCK (its `local`)
addressed to NIC_MAC, at most WINDOW (default 8) unanswered at a time, and
expects each back with the MAC addresses swapped and the rest intact
(dpdk-testpmd --forward-mode=macswap in the guest).  Prints one line per
COUNT:SIZE:

    size=S sent=N received=M swapped=K bad=B elapsed_s=T pps=P

and exits 0 when every frame came back swapped, 1 otherwise.  A Unix
datagram queue holds few datagrams: the window keeps both queues (ours and
the NIC's) from overflowing, so no frame is lost on the host side.  One
socket serves every phase: the NIC's socket connects to ours when it first
sends, and a connected Unix datagram socket takes datagrams from its peer
only.

arp:IP asks who has IP (a broadcast ARP request from 10.215.0.99, our MAC) and
waits for the answer from NIC_MAC: the guest's kernel driver (hv_netvsc)
receives and sends on the NIC.  Prints "arp-reply IP is-at MAC" and exits 0,
or 1 with nothing heard.  If the NIC's socket is still connected to a closed
peer (an earlier run), the kernel refuses our datagrams (EPERM) until the NIC
sends once: let the guest send a frame on it first.
"""
import os
import socket
import struct
import sys
import time

SRC_MAC = bytes.fromhex("020000dd0001")
ETHERTYPE = 0x88B5  # IEEE 802 local experimental: nothing in the guest answers it


def frame(seq, size, dst):
    head = dst + SRC_MAC + struct.pack("!HI", ETHERTYPE, seq)
    pad = bytes((seq + i) & 0xFF for i in range(max(0, size - len(head))))
    return head + pad


def phase(s, nic, dst, count, size, window, timeout):
    sent = received = swapped = bad = 0
    start = time.monotonic()
    last_progress = start
    while received < count:
        while sent < count and sent - received < window:
            s.sendto(frame(sent, size, dst), nic)
            sent += 1
        try:
            data = s.recv(2048)
        except socket.timeout:
            if time.monotonic() - last_progress > timeout:
                break
            continue
        last_progress = time.monotonic()
        received += 1
        if len(data) < 18:
            bad += 1
            continue
        seq = struct.unpack("!I", data[14:18])[0]
        want = frame(seq, size, dst)
        if seq < sent and data[0:6] == SRC_MAC and data[6:12] == dst and data[12:] == want[12:]:
            swapped += 1
        else:
            bad += 1
    elapsed = time.monotonic() - start
    print("size=%d sent=%d received=%d swapped=%d bad=%d elapsed_s=%.2f pps=%.0f"
          % (size, sent, received, swapped, bad, elapsed, swapped / elapsed if elapsed else 0),
          flush=True)
    return swapped == count and bad == 0


def arp(s, nic, dst, ip, timeout):
    target = socket.inet_aton(ip)
    req = (b"\xff" * 6 + SRC_MAC + struct.pack("!HHHBBH", 0x0806, 1, 0x0800, 6, 4, 1)
           + SRC_MAC + socket.inet_aton("10.215.0.99") + b"\x00" * 6 + target)
    deadline = time.monotonic() + timeout
    next_send = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_send:
            s.sendto(req, nic)
            next_send = time.monotonic() + 1.0
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        if (len(data) >= 42 and data[12:14] == b"\x08\x06" and data[20:22] == b"\x00\x02"
                and data[28:32] == target and data[22:28] == dst):
            print("arp-reply %s is-at %s" % (ip, data[22:28].hex(":")), flush=True)
            return True
    print("arp: no reply from %s" % ip, flush=True)
    return False


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    if sys.argv[4].startswith("arp:"):
        peer, nic = sys.argv[1], sys.argv[2]
        try:
            os.unlink(peer)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(peer)
        s.settimeout(0.5)
        try:
            ok = arp(s, nic, bytes.fromhex(sys.argv[3].replace(":", "")), sys.argv[4][4:],
                     float(sys.argv[5]) if len(sys.argv) > 5 else 30.0)
        except OSError as e:
            print("error: %s" % e, flush=True)
            ok = False
        s.close()
        os.unlink(peer)
        sys.exit(0 if ok else 1)
    peer, nic = sys.argv[1], sys.argv[2]
    dst = bytes.fromhex(sys.argv[3].replace(":", ""))
    phases = [tuple(int(x) for x in p.split(":")) for p in sys.argv[4].split(",")]
    window = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
    for count, size in phases:
        if size < 18 or size > 1514:
            sys.exit("SIZE must be 18..1514")

    try:
        os.unlink(peer)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(peer)
    s.settimeout(0.5)
    ok = True
    try:
        for count, size in phases:
            ok = phase(s, nic, dst, count, size, window, timeout) and ok
    except OSError as e:
        print("error: %s" % e, flush=True)
        ok = False
    s.close()
    os.unlink(peer)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
