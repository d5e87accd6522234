"""A reply's event never carries the flow or task run that happens to be on the caller's
context: Prefect's events worker would add it as a related resource (no server needed:
`emit_event` is replaced by a recorder of what the worker would see)."""

from __future__ import annotations

import contextvars

import prefect.events
from prefect.context import FlowRunContext, TaskRunContext

from notifications import events

INFO = events.ReplyRecorded("QT/tt/so-gddt/2022", "QT", "so-gddt", 7, 2, "done")


def test_the_event_is_emitted_outside_the_callers_runs(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    seen: list[tuple[object, object, dict[str, object]]] = []

    def recorder(**event: object) -> object:
        seen.append((FlowRunContext.get(), TaskRunContext.get(), event))
        return object()

    monkeypatch.setattr(prefect.events, "emit_event", recorder)
    flow_run, task_run = object(), object()

    def inside_a_run() -> tuple[bool, bool]:
        FlowRunContext.__var__.set(flow_run)  # type: ignore[arg-type]
        TaskRunContext.__var__.set(task_run)  # type: ignore[arg-type]
        sent = events.reply_recorded(INFO), events.agreement_imported("QT", "amended", 2)
        assert (FlowRunContext.__var__.get(), TaskRunContext.__var__.get()) == (
            flow_run, task_run)  # the caller's context is left as it was
        return sent

    assert contextvars.copy_context().run(inside_a_run) == (True, True)
    assert [(f, t) for f, t, _e in seen] == [(None, None), (None, None)]
    reply = seen[0][2]
    assert reply["event"] == "phoihop.reply.recorded"
    assert [r["prefect.resource.role"] for r in reply["related"]] == ["agreement", "party"]


def test_a_decision_has_its_own_event_shaped_like_the_replys(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    seen: list[dict[str, object]] = []
    monkeypatch.setattr(prefect.events, "emit_event",
                        lambda **event: seen.append(event) or object())
    taken = events.DecisionTaken("QT/tt/so-gddt/2022", "QT", "so-gddt", 7, 2, "granted")
    assert events.decision_taken(taken) and events.reply_recorded(INFO)
    decision, reply = seen
    assert decision["event"] == "phoihop.decision.granted"
    assert decision["resource"] == reply["resource"]  # the obligation, its reply, agreement
    assert decision["related"] == reply["related"]
    assert decision["payload"] == {"decision": "granted", "version": 2}
