"""The garbage collector tuned for batches.

CPython collects its youngest generation every 700 allocations (net of frees), and a
collection of an older generation walks every object that survived into it. A batch keeps
tens of thousands of objects alive while it is decoded and applied (5,000 records in a
rebuild), so the collector ran hundreds of times per batch, walking the batch again each
time: 35-50 % of the time a rebuild spent decoding (docs/performance.md). Reference counting
frees nearly everything here; the collector is only needed for cycles, which are rare. So once
a worker has started, what it made so far (modules, settings, clients) is frozen out of the
collector's reach, and the young generation is collected every ``OMS_GC_THRESHOLD``
allocations instead.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc(threshold: int) -> None:
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
