"""What the use cases need from the running program, and nothing more.

config.bootstrap.App provides it (one per process); tests build their own App. A handler
takes the session of its caller's unit of work, or opens its own through `session`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.calendar import WorkCalendar
from core.parse import ParseOptions
from notifications.port import Sending


class Shell(Sending, Protocol):
    """Units of work, the clock, the link key, the policy, the channels, and how agreement
    files are read (their ladders, channels and working calendar)."""

    @property
    def calendar(self) -> WorkCalendar: ...

    @property
    def parse_options(self) -> ParseOptions: ...

    def now(self) -> datetime: ...
