"""Use cases: one handler per thing that happens (see docs/architecture.md)."""
