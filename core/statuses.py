"""Every closed set of words phoihop stores or compares, defined once.

Each is a `StrEnum`: a member is its own string (`ObligationStatus.OPEN == "open"`), so
the database keeps plain strings (the columns are `str`, never a database enum type:
the migrations are unchanged) and JSON, f-strings and `str()` print the bare value.
Pure: no database, network or clock.
"""

from __future__ import annotations

from enum import StrEnum


class ObligationStatus(StrEnum):
    """`Obligation.status`: open until a reply closes it (or it was never live)."""

    OPEN = "open"
    SUBMITTED = "submitted"  # a `done` reply, awaiting the coordinator or not reviewed
    ACCEPTED = "accepted"  # the coordinator accepted the submission
    WAIVED = "waived"
    WITHDRAWN = "withdrawn"  # an amendment removed it
    UNRECORDED = "unrecorded"  # overdue already when the agreement was registered


# The statuses that end the ladder: everything but open.
CLOSED_STATUSES = tuple(s for s in ObligationStatus if s is not ObligationStatus.OPEN)


class ListedStatus(StrEnum):
    """What `obligations --status` filters by and prints: an open obligation is shown
    `overdue` or `upcoming` at the instant asked (`open` takes both)."""

    OPEN = "open"
    OVERDUE = "overdue"
    UPCOMING = "upcoming"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    WAIVED = "waived"
    WITHDRAWN = "withdrawn"
    UNRECORDED = "unrecorded"


class ReplyStatus(StrEnum):
    """`Reply.status`: what a partner answered (the `status` of a replies file)."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    EXTENSION = "extension"


class Decision(StrEnum):
    """`Reply.decision`: a coordinator's answer to a submission (`accepted`, `returned`)
    or to an extension request (`pending`, then `granted` or `denied`; `superseded` when
    a later request replaces a pending one). None: nothing to decide."""

    PENDING = "pending"
    GRANTED = "granted"
    DENIED = "denied"
    SUPERSEDED = "superseded"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class OutboxState(StrEnum):
    """`OutboxMessage.state`: a message's way through the outbox."""

    PENDING = "pending"
    CLAIMED = "claimed"  # leased by one sender
    SENT = "sent"
    RETRY_WAIT = "retry_wait"
    DEAD = "dead"  # out of attempts, or refused for good
    UNKNOWN = "unknown"  # a lease expired with no result recorded


# The states a sender claims from, once their `next_attempt_at` has come.
SENDABLE_STATES = (OutboxState.PENDING, OutboxState.RETRY_WAIT, OutboxState.UNKNOWN)
# Not delivered yet and not given up: what a later run will still try (claimed ones
# once their lease runs out).
UNDELIVERED_STATES = (OutboxState.PENDING, OutboxState.RETRY_WAIT, OutboxState.CLAIMED,
                      OutboxState.UNKNOWN)


class Role(StrEnum):
    """A contact's role in its party (`contacts[].role` of an agreement file)."""

    FOCAL = "focal"
    HEAD = "head"
    COORDINATOR = "coordinator"


class LadderRecipient(StrEnum):
    """Who a ladder step goes to (`ladder.steps[].to` of an agreement file)."""

    FOCAL = "focal"  # the owing party's focal points
    HEAD = "head"  # the owing party's heads
    CONVENER_COORDINATOR = "convener.coordinator"
    SUPERVISOR = "supervisor"  # every contact of the supervising party
    HOST = "host"  # a review's host party's focal points


class Audience(StrEnum):
    """Which rung's wording a recipient gets (`core.ladder.audience`)."""

    FOCAL = "focal"
    HEAD = "head"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    HOST = "host"


class AgreementStatus(StrEnum):
    """`Agreement.status`."""

    ACTIVE = "active"
    ENDED = "ended"


class ReviewStage(StrEnum):
    """`Review.stage`, in the order it moves (never backwards); `draft` and `final` are
    also the dossier's stages."""

    PLANNED = "planned"
    HOST_NOTIFIED = "host_notified"
    DRAFT = "draft"
    FINAL = "final"
    CLOSED = "closed"


class StepOutcome(StrEnum):
    """`FiredStep.outcome`: a ladder step fired, or skipped by the catch-up rule."""

    FIRED = "fired"
    SKIPPED = "skipped"
