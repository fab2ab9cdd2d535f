"""Peak memory of the current process, for the bounded-memory tests' child interpreters.

VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the (v)forking parent,
so in a child of a big pytest process it reports the parent's peak.
"""

from __future__ import annotations


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024
