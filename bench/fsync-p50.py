#!/usr/bin/env python3
"""p50 in ms of 100 appends of 2 KB, each fdatasync'd, in the directory given:
what bounds a durable run (the benches print it beside each run)."""
import os, sys, time

path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
ts = []
for _ in range(100):
    os.write(fd, b"x" * 2000)
    t = time.perf_counter(); os.fdatasync(fd); ts.append((time.perf_counter() - t) * 1000)
os.close(fd); os.unlink(path)
print(round(sorted(ts)[50], 2))
