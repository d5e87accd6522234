"""SQLModel tables and the small query functions over them (one database: SQLite or PostgreSQL)."""

from models.tables import (
    Agreement,
    Commitment,
    Contact,
    FiredStep,
    Link,
    Obligation,
    OutboxMessage,
    Party,
    Reply,
    Review,
)

__all__ = [
    "Agreement", "Commitment", "Contact", "FiredStep", "Link", "Obligation", "OutboxMessage",
    "Party", "Reply", "Review",
]
