"""Keep a set of child processes alive: what `phoihop up` does with its workers, Prefect's
services process, the mail sink and the portal.

Plain processes and a clock, nothing of Prefect's: a child that exits is started again
after a backoff (1, 2, 4 … up to 30 s), and each restart is reported. The set gives up,
and everything is stopped by the caller, only when

- an *essential* child exits (Prefect's API server: without it nothing works), or
- one child failed `max_failures` times within `window` seconds (a crash loop: a bad
  setting, a database that is gone; restarting it for ever would hide that).
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds before the 1st, 2nd, … restart in a row
MAX_FAILURES = 5  # this many exits of one child ...
WINDOW = 600.0  # ... within this many seconds stop the set


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    start: Callable[[], subprocess.Popen[bytes]]  # a new process doing the same work
    essential: bool = False
    exits: deque[float] = field(default_factory=deque)  # when it exited, recent ones
    due: float | None = None  # when it is to be started again
    restarts: int = 0


@dataclass
class Restart:
    """A child that exited and will be started again in `delay` seconds."""
    name: str
    returncode: int | None
    delay: float
    failures: int  # exits within the window, this one included


class Stopped(Exception):
    """The set gives up: `name` exited (`returncode`) and `why` says why that is final."""

    def __init__(self, name: str, returncode: int | None, why: str, failures: int = 1
                 ) -> None:
        super().__init__(f"{name} exited ({returncode}): {why}")
        self.name, self.returncode, self.why, self.failures = name, returncode, why, failures


@dataclass
class Supervisor:
    report: Callable[[Restart], None] = lambda _r: None
    clock: Callable[[], float] = time.monotonic
    max_failures: int = MAX_FAILURES
    window: float = WINDOW
    backoff: tuple[float, ...] = BACKOFF
    children: list[Child] = field(default_factory=list)
    replaced: Callable[[subprocess.Popen[bytes], subprocess.Popen[bytes]], None] = (
        lambda _old, _new: None)  # told when a process is replaced by a new one

    def watch(self, name: str, proc: subprocess.Popen[bytes],
              start: Callable[[], subprocess.Popen[bytes]], essential: bool = False
              ) -> Child:
        child = Child(name, proc, start, essential)
        self.children.append(child)
        return child

    def check(self) -> None:
        """One look at every child: exits noted, restarts due done. Raises Stopped."""
        now = self.clock()
        for child in self.children:
            if child.due is not None:
                if now >= child.due:
                    old, child.proc = child.proc, child.start()
                    child.due = None
                    child.restarts += 1
                    self.replaced(old, child.proc)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if child.essential:
                raise Stopped(child.name, code, "essential")
            child.exits.append(now)
            while child.exits and child.exits[0] < now - self.window:
                child.exits.popleft()
            failures = len(child.exits)
            if failures >= self.max_failures:
                raise Stopped(child.name, code, "too many exits", failures)
            delay = self.backoff[min(failures, len(self.backoff)) - 1]
            child.due = now + delay
            self.report(Restart(child.name, code, delay, failures))
