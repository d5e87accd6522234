"""The Notifier port: what the outbox hands a message to. Adapters: SMTP, Apprise, a fake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.policy import Policy
from models.sql import UnitOfWork


@dataclass(frozen=True)
class Message:
    to_address: str  # an e-mail address, or a channel (Apprise URL or configured name)
    to_name: str
    subject: str
    text: str
    html: str | None
    message_id: str  # deterministic, from the outbox key(s)
    headers: dict[str, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """A failed attempt. `permanent` failures (5xx, bad address) are not retried.

    `unreachable`: the server took no message, for no reason of this one's (no answer by the
    deadline, or it refused the sender): the round's other messages on that channel would
    fail the same way, so they wait for the next round without an attempt.
    """

    def __init__(self, message: str, *, permanent: bool = False,
                 unreachable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


class Notifier(Protocol):
    def send(self, message: Message) -> None:
        """Deliver or raise DeliveryError."""

    def close(self) -> None:
        """Release connections."""


class RecordingNotifier:
    """A fake for tests: records messages; can be told to fail for some addresses."""

    def __init__(self, fail: dict[str, DeliveryError] | None = None) -> None:
        self.sent: list[Message] = []
        self.fail = fail or {}

    def send(self, message: Message) -> None:
        error = self.fail.get(message.to_address)
        if error is not None:
            raise error
        self.sent.append(message)

    def close(self) -> None:
        return None


class Sending(UnitOfWork, Protocol):
    """What sending needs: units of work, the key that derives link tokens and opens sealed
    channels, the policy (leases, retries, addresses) and the channels
    (config.bootstrap.App provides it)."""

    @property
    def secret_key(self) -> bytes: ...

    @property
    def policy(self) -> Policy: ...

    def notifiers(self) -> dict[str, Notifier]: ...
