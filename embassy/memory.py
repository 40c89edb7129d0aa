"""Keeping the process's memory close to what it uses (glibc malloc tuning, applied at start-up).

The engine moves many MiB-sized buffers through a few threads. By default glibc gives each thread
its own arena and raises its mmap threshold after every large free, so freed 4-8 MiB buffers stay
in the heap and RSS drifts far above the live data. A fixed 1 MiB mmap threshold returns large
buffers to the system when freed, and two arenas are plenty for our threads.
"""

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """Apply the settings; False where the C library is not glibc (then nothing changes)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_ARENA_MAX, 2) == 1
    ok = mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1 and ok
    ok = mallopt(M_TRIM_THRESHOLD, 4 << 20) == 1 and ok
    return bool(ok)
