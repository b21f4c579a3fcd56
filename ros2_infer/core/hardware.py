"""Facts about the machine that settings default to (physical cores, memory)."""

import os
from pathlib import Path
import resource
import sys


def physical_core_count() -> int:
    """
    Count the physical cores this process may run on.

    More threads than physical cores slows inference down (SMT siblings share the vector
    units), so thread settings default to this, not to ``os.cpu_count()``.
    """
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = set(range(os.cpu_count() or 1))
    cores = set()
    for cpu in allowed:
        topology = Path(f'/sys/devices/system/cpu/cpu{cpu}/topology')
        try:
            package = (topology / 'physical_package_id').read_text().strip()
            core = (topology / 'core_id').read_text().strip()
        except OSError:
            cores.add(('cpu', cpu))
            continue
        cores.add((package, core))
    return max(1, len(cores))


def peak_rss_mb() -> float:
    """Return the peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == 'darwin' else peak / 1024


def current_rss_mb() -> float:
    """Return the current resident set size in MiB (the peak where /proc is missing)."""
    try:
        with open('/proc/self/statm') as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()
