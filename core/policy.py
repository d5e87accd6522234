"""The rules the settings give the use cases, as plain data, and the pure decisions on them.

`Policy` is built once from the settings (config.bootstrap) and handed down: services,
notifications and reviews read these values and never the settings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Policy:
    auto_extension_days: int  # an extension granted once per obligation without asking
    link_days_after_deadline: int  # how long a link lives after its deadline
    lease_seconds: float  # how long a sender holds the rows it claimed
    send_retries: int  # attempts before a message is given up (dead)
    portal_url: str  # where links point
    sender_name: str  # who messages are signed by
    language: str  # of files written for coordinators (dossier names)
    data_dir: Path  # where dossiers are written by default

    def link_url(self, prefix: str, token: str) -> str:
        """A portal link: `r` (reply), `d` (decision), `dossier`."""
        return f"{self.portal_url.rstrip('/')}/{prefix}/{token}"


def automatic_extension(policy: Policy, *, first: bool, due: date, until: date) -> bool:
    """A partner's extension request is granted at once when it is the obligation's first
    and asks for at most `auto_extension_days` past the current due date; otherwise a
    coordinator decides."""
    return first and until <= due + timedelta(days=policy.auto_extension_days)


def why_asked(*, first: bool) -> str:
    """Why a waiting extension request is put to the coordinators."""
    return "too_long" if first else "again"
