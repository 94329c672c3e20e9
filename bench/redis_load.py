#!/usr/bin/env python3
"""Writes Redis SET commands (RESP) for keys FIRST..LAST-1 to stdout, for `redis-cli --pipe`.

Keys are named the way `redis-benchmark -r` names them ("key:" and 12 digits), so a later
`redis-benchmark -r LAST` reads keys that exist; values are VALUE_BYTES bytes.

usage: redis_load.py FIRST LAST VALUE_BYTES
"""

import sys


def main() -> int:
    first, last, value_bytes = (int(a) for a in sys.argv[1:4])
    value = (b"abcdefghijklmnopqrstuvwxyz" * (value_bytes // 26 + 1))[:value_bytes]
    head = b"*3\r\n$3\r\nSET\r\n$16\r\n"
    tail = b"\r\n$%d\r\n%s\r\n" % (value_bytes, value)
    out = sys.stdout.buffer
    batch = 10000
    for start in range(first, last, batch):
        end = min(start + batch, last)
        out.write(b"".join(head + b"key:%012d" % i + tail for i in range(start, end)))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
