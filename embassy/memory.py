"""Keeping the process's memory close to what it uses (glibc malloc tuning, applied at start-up).

The engine moves many MiB-sized buffers through a few threads. By default glibc gives each thread
its own arena, and freed buffers in one arena cannot serve another thread: RSS drifts ~50 MiB above
the live data on a 1 GiB backup. One arena fixes that at no measurable cost (the buffers are large,
so the lock is taken rarely). Measured and rejected: a low fixed mmap threshold or trim threshold
returns memory sooner but makes the kernel zero and fault in every buffer again: 5x the system time.
"""

import ctypes

M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """Apply the settings; False where the C library is not glibc (then nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter is linked with
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1) == 1)
