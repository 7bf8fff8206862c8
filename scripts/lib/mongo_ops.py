#!/usr/bin/env python3
"""Prints the operations a MongoDB-wire server has answered so far: the sum
of serverStatus's opcounters (insert, query, update, delete, getmore,
command). The benchmarks take it before and after a run for the database's
work per request. Standard library only: one OP_MSG over a socket (MongoDB
manual, "MongoDB Wire Protocol", OP_MSG, consulted 2026-12-01).

    python3 scripts/lib/mongo_ops.py PORT
"""

import socket
import struct
import sys

OP_MSG = 2013


def bson_command(name):
    """{name: 1, "$db": "admin"} as BSON."""
    body = b"\x10" + name.encode() + b"\x00" + struct.pack("<i", 1)
    body += b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def cstring(data, at):
    end = data.index(b"\x00", at)
    return data[at:end].decode(), end + 1


def document(data, at):
    """The document at `at`, as a dict (the types serverStatus answers with)."""
    size = struct.unpack_from("<i", data, at)[0]
    end, at, out = at + size - 1, at + 4, {}
    fixed = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x11: 8, 0x13: 16, 0xFF: 0, 0x7F: 0}
    while at < end:
        kind = data[at]
        key, at = cstring(data, at + 1)
        if kind in (0x03, 0x04):
            out[key] = document(data, at)
            at += struct.unpack_from("<i", data, at)[0]
        elif kind in (0x02, 0x0D, 0x0E):
            at += 4 + struct.unpack_from("<i", data, at)[0]
        elif kind == 0x05:
            at += 5 + struct.unpack_from("<i", data, at)[0]
        elif kind == 0x10:
            out[key] = struct.unpack_from("<i", data, at)[0]
            at += 4
        elif kind == 0x12:
            out[key] = struct.unpack_from("<q", data, at)[0]
            at += 8
        elif kind == 0x0B:
            _, at = cstring(data, at)
            _, at = cstring(data, at)
        elif kind in fixed:
            if kind == 0x01:
                out[key] = struct.unpack_from("<d", data, at)[0]
            at += fixed[kind]
        else:
            raise ValueError(f"BSON type {kind:#x} not handled")
    return out


def main():
    port = int(sys.argv[1])
    payload = struct.pack("<I", 0) + b"\x00" + bson_command("serverStatus")
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, OP_MSG)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(header + payload)
        raw = b""
        while len(raw) < 4 or len(raw) < struct.unpack_from("<i", raw)[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            raw += chunk
    status = document(raw, 16 + 4 + 1)
    print(int(sum(status["opcounters"].values())))


if __name__ == "__main__":
    main()
