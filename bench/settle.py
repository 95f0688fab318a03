"""Before a full-size run: write everything out and, as root, drop the kernel's clean caches.

Two things of this machine (a VM whose disk is ext4 without a journal) made the same code
measure very differently depending on what ran in the minutes before:

* ext4 without a journal skips a free inode whose on-disk record says it was deleted in the last
  1-6 minutes, but only while its inode-table block is cached: after a mass delete (a previous
  run's 150,000 sandbox files) each new file scans past thousands of them (measured here: 15 us
  a file before, 70-170 us after, 11-22 us once the cached blocks were dropped). With a journal
  the check does not exist.
* Memory the guest has cached is memory fresh allocations cannot reuse; after dropping the page
  cache the scheduler's runs measured 20-25% less CPU (one-off-real 65-73 us per task instead of
  85-95, status-storm 420-434k updates/s instead of 316-378k, same commit, same hour).

Dropping caches touches nothing of ours (the data is on disk); it needs root, as peer-slurm does.
"""

from __future__ import annotations

import os

NOTE = "machine settled first (sync, clean caches dropped)"


def settle_machine() -> bool:
    """sync(), then drop clean page cache, dentries and inodes; False when not permitted."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fp:
            fp.write("1")
    except OSError:
        return False
    return True
