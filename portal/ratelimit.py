"""The portal's rate limits: token buckets (`take`), kept in one process (`RateLimiter`) or
shared by its worker processes (`SharedRateLimiter`, `phoihop portal --workers N`).

The shared limiter keeps the same buckets in a file every worker maps into memory
(`/dev/shm` when there is one): each limiter has its own file, a fixed table of slots (a
key's SHA-256 prefix, its tokens, when it was last used), and an `allow` takes the file's
lock (`flock`), probes a few slots, updates one, releases. A request costs a few
microseconds, not the database write a limiter in the database would.

A slot is reused only when its bucket has refilled completely (as good as a new one), so
no live bucket is ever forgotten; if all slots near a key's are live (tens of thousands
of keys at once), `allow` refuses: the limit fails closed.

The buckets refill by `time.monotonic`, which is one clock for all processes of a host.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

SLOT = struct.Struct("<16sdd")  # key digest, tokens, last use (monotonic seconds)
SLOTS = 1 << 18  # 8 MiB a limiter, sparse: only touched pages take memory
PROBES = 32
EMPTY = bytes(16)
log = logging.getLogger("phoihop.portal")


def take(tokens: float, last: float | None, now: float, rate: float, capacity: float
         ) -> tuple[bool, float]:
    """One request against a bucket of `tokens` last used at `last` (None: a new bucket,
    full): refilled by `rate` a second up to `capacity`, then one token taken if there is
    one. (allowed, the tokens left)."""
    if last is not None:
        tokens = min(capacity, tokens + (now - last) * rate)
    if tokens < 1:
        return False, tokens
    return True, tokens - 1


class RateLimiter:
    """Token buckets in this process (`phoihop portal` in one process); `monotonic` is the
    clock the buckets refill by (tests freeze it)."""

    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.monotonic = monotonic
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = self.monotonic()
        tokens, last = self.buckets.get(key, (self.capacity, None))
        allowed, left = take(tokens, last, now, self.rate, self.capacity)
        self.buckets[key] = (left, now)
        return allowed


class SharedRateLimiter:
    """`RateLimiter` over a file shared by processes: same interface, same buckets."""

    def __init__(self, path: Path, per_minute: int,
                 monotonic: Callable[[], float] = time.monotonic, slots: int = SLOTS) -> None:
        self.monotonic = monotonic
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.slots = slots
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = slots * SLOT.size
        if os.fstat(self.fd).st_size < size:
            os.ftruncate(self.fd, size)
        self.table = mmap.mmap(self.fd, size)

    def allow(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode()).digest()
        digest, start = digest[:16], int.from_bytes(digest[16:24], "little") % self.slots
        now = self.monotonic()
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            free: int | None = None
            for i in range(PROBES):
                at = ((start + i) % self.slots) * SLOT.size
                held, tokens, last = SLOT.unpack_from(self.table, at)
                if held == digest:
                    return self._take(at, digest, tokens, last, now)
                if free is None and (held == EMPTY or tokens + (now - last) * self.rate
                                     >= self.capacity):
                    free = at  # never used, or refilled completely: as good as new
            if free is None:
                log.warning("rate limit table full near a key: request refused")
                return False
            return self._take(free, digest, self.capacity, None, now)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def _take(self, at: int, digest: bytes, tokens: float, last: float | None, now: float
              ) -> bool:
        allowed, left = take(tokens, last, now, self.rate, self.capacity)
        SLOT.pack_into(self.table, at, digest, left, now)
        return allowed

    def close(self) -> None:
        self.table.close()
        os.close(self.fd)
