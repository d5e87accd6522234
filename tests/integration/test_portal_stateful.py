"""The portal's OpenAPI links followed by schemathesis's state machine (issue #6 item 10),
against the live app (ASGI) on SQLite and PostgreSQL, with real reply and decision links.

A scenario starts on a live reply or decision page (or a random link) and follows the
links the document declares: a page → its form's POST → the page again or the same form
once more, a form with errors → the corrected POST, a page → itself in the other
language or headers only, a decision page → its POST → the decided page. The form's
hidden fields are in the HTML, which no link expression reads: the machine takes them
from the last page of the same link, as a browser does, unless the generated body left
them out or already carries a page's (a replayed form).

Every response goes through every check schemathesis has (none excluded; the one
setting changed lets a well-formed form be answered 422 for errors a schema cannot say);
no GET or HEAD and no refused POST changes a row, and a POST answered 200 adds one reply
version at most, none for a form already recorded.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any, ClassVar

import hypothesis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import Bundle
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.generation.meta import TestPhase
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.generation.stateful.state_machine import (
    StepInput,
    StepOutput,
    release_state_machines,
)
from schemathesis.specs.openapi.stateful import is_root_allowed, transition
from sqlmodel import col, func, select

from config.bootstrap import App
from models.links import token_for
from models.tables import Link, Obligation, Reply
from tests.integration import test_portal_attacks as attacks
from tests.integration.test_portal_attacks import Portal, dump, form_of

# the fixtures of the attack tests: the QT agreement imported, a live link, and the app
# with the per-address limit raised and 60 live reply links
portal = attacks.portal
open_portal = attacks.open_portal

FIELD = re.compile(r'name="(csrf|form_nonce)" value="([^"]+)"')
DECISIONS = ("accept", "return", "approve", "deny")
FORMS = {"POST /r/{token}", "POST /d/{token}"}
READS = {"GET", "HEAD"}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def decision_links(app: App, client: TestClient, tokens: list[str]) -> list[str]:
    """Replies through the portal on 12 live links, so that coordinators get decision
    links: 6 `done` (accept, return) and 6 extensions of 40 days (approve, deny)."""
    with app.session() as s:
        due = {o.id: o.due for o in s.exec(select(Obligation))}
        obligation_of = {token_for(app.secret_key, k.nonce): k.obligation_id
                         for k in s.exec(select(Link))}
    for i, token in enumerate(tokens[:12]):
        fields = {"status": "extension", "until": (
            due[obligation_of[token]] + timedelta(days=40)).isoformat()} if i % 2 else {
            "status": "done"}
        r = client.post(f"/r/{token}", data=form_of(client, token) | fields)
        assert r.status_code == 200, r.text
    with app.session() as s:
        return [token_for(app.secret_key, k.nonce) for k in s.exec(
            select(Link).where(col(Link.purpose).in_(DECISIONS)).order_by(col(Link.id)))]


def reply_count(app: App) -> int:
    with app.session() as s:
        return s.exec(select(func.count()).select_from(Reply)).one()


class Tally:
    """What a run did, summed over its scenarios."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, int]] = Counter()  # (operation, status)
        self.followed: Counter[str] = Counter()  # transitions whose link values were used
        self.filled = 0  # POSTs sent with a page's hidden fields
        self.unchanged = 0  # calls that had to change no row, and changed none
        self.recorded = 0  # POST /r/ answered 200 that added a reply version
        self.replayed = 0  # POST /r/ answered 200 with a form already recorded: none added
        self.validated = 0  # responses through every check
        self.failures: list[str] = []
        self.scenarios = 0


def portal_machine(app: App, client: TestClient, reply_links: list[str],
                   decisions: list[str], tally: Tally) -> tuple[type, list[str]]:
    """schemathesis's state machine over the portal's schema, with two more ways to start a
    scenario: a live reply link's page and a live decision link's page. Also the names
    of the checks every response goes through."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    acceptance = schema.config.checks.positive_data_acceptance
    # a well-formed form with errors the schema cannot say (a date before the due date,
    # an indicator's kind or at_most) is shown again with them: 422
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]
    base = schema.as_state_machine()
    ops = {o.label: o for o in (r.ok() for r in schema.get_all_operations()
                                if isinstance(r, Ok))}
    checks = [c.__name__ for c in CHECKS.get_all() if hasattr(c, "__name__")
              and schema.config.checks.get_by_name(name=c.__name__).enabled]

    def live(label: str, tokens: list[str]) -> tuple[str, Any]:
        op = ops[label]
        cases = st.sampled_from(tokens).flatmap(lambda t: op.as_strategy(
            GenerationMode.POSITIVE, phase=TestPhase.STATEFUL, path_parameters={"token": t}))
        name = "LIVE_" + re.sub(r"\W+", "_", label)
        return name, transition(name=name, target=Bundle("catch_all"),
                                precondition=is_root_allowed(label),
                                input=cases.map(StepInput.initial))

    class PortalMachine(base):  # type: ignore[misc, valid-type]
        # the forms recorded so far, over every scenario (the database keeps them)
        done_forms: ClassVar[set[tuple[Any, Any]]] = set()

        def setup(self) -> None:
            self.forms: dict[str, dict[str, str]] = {}  # link token -> its last page's form
            self.shown: set[tuple[Any, Any]] = set()  # (csrf, nonce) of every page shown
            self.sent: tuple[Any, Any] = (None, None)  # (csrf, nonce) of the last POST
            self.before: Any = None
            self.replies = 0
            tally.scenarios += 1

        def step(self, input: StepInput) -> StepOutput:
            if input.transition is not None and input.is_applied:
                tally.followed[input.transition.id] += 1
            try:
                return super().step(input)
            except FailureGroup:
                raise  # counted by validate_response
            except Exception as exc:  # a broken invariant, or the app raised
                tally.failures.append(f"{input.case.operation.label}: {exc!r}")
                raise

        def before_call(self, case: Case) -> None:
            token = str((case.path_parameters or {}).get("token", ""))
            body = case.body
            self.sent = (None, None)
            if case.operation.label in FORMS and isinstance(body, dict):
                sent = (body.get("csrf"), body.get("form_nonce"))
                if all(isinstance(v, str) for v in sent) and sent not in self.shown \
                        and token in self.forms:
                    body.update(self.forms[token])  # a browser posting the page's form
                    # strings for strings in fields with no constraint: the case stays as
                    # generated (revalidated, a body holding a file would count as invalid)
                    case._record_starting_state()
                    tally.filled += 1
                self.sent = (body.get("csrf"), body.get("form_nonce"))
            self.before, self.replies = dump(app), reply_count(app)

        def after_call(self, response: Response, case: Case) -> None:
            super().after_call(response, case)
            label, code = case.operation.label, response.status_code
            tally.calls[(label, code)] += 1
            if case.operation.method.upper() in READS or code != 200:
                assert dump(app) == self.before, f"{label} {code} changed a row"
                tally.unchanged += 1
            elif label == "POST /r/{token}":
                added = reply_count(app) - self.replies
                assert added == (0 if self.sent in self.done_forms else 1), (label, added)
                if added:
                    tally.recorded += 1
                    self.done_forms.add(self.sent)
                else:
                    tally.replayed += 1
            form = dict(FIELD.findall(response.text or ""))
            if len(form) == 2:
                self.forms[str((case.path_parameters or {}).get("token", ""))] = form
                self.shown.add((form["csrf"], form["form_nonce"]))

        def validate_response(self, response: Response, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, additional_checks, **kwargs)
            except FailureGroup as exc:
                tally.failures.append(f"{case.operation.label} {response.status_code}: {exc}")
                raise
            tally.validated += 1

    for name, rule in (live("GET /r/{token}", reply_links), live("GET /d/{token}", decisions)):
        setattr(PortalMachine, name, rule)
    return PortalMachine, checks


def run(machine: type, tally: Tally, *, scenarios: int, steps: int) -> int:
    """Suites of scenarios until `scenarios` ran; the number of suites.

    The portal's state carries over from one scenario to the next (a decided link answers
    409 the second time), so Hypothesis may find a replayed prefix taking another path and
    stop the suite as flaky: the next suite starts from another seed, as schemathesis's
    own runner does. A failed check is in `tally.failures` whatever Hypothesis does next.
    """
    suites = 0
    while tally.scenarios < scenarios:
        assert suites < 20, "the suites keep stopping before their scenarios ran"
        suite = hypothesis.seed(suites)(type(f"Suite{suites}", (machine,), {}))
        suites += 1
        try:
            run_state_machine_as_test(suite, settings=settings(
                max_examples=scenarios - tally.scenarios, stateful_step_count=steps,
                deadline=None, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck)))
        except Flaky:
            continue
        finally:
            release_state_machines(suite)
    return suites


def test_stateful_schema_run_follows_links_with_no_server_error(open_portal: Any) -> None:
    app, client, tokens = open_portal
    decisions = decision_links(app, client, tokens)
    assert len(decisions) >= 12  # accept and return (6 done), approve and deny (6 longer)
    tally = Tally()
    machine, checks = portal_machine(app, client, tokens, decisions, tally)
    suites = run(machine, tally, scenarios=40, steps=12)
    calls = tally.calls
    print(f"\n{len(tokens)} reply links, {len(decisions)} decision links; "
          f"{suites} suites, {tally.scenarios} scenarios, {sum(calls.values())} calls, "
          f"{sum(tally.followed.values())} followed links, {tally.filled} forms filled, "
          f"{tally.recorded} replies recorded, {tally.replayed} replayed; checks: {checks}")
    for (label, code), n in sorted(calls.items()):
        print(f"  {label} {code}: {n}")
    for name, n in sorted(tally.followed.items()):
        print(f"  {name}: {n}")
    assert tally.failures == []
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance"} <= set(checks)
    assert not [key for key in calls if key[1] >= 500]
    assert tally.validated == sum(calls.values()) >= 200
    assert tally.unchanged == sum(n for (label, code), n in calls.items()
                                  if label.split()[0] in READS or code != 200)
    # the run chained calls through the links, and reached real pages and recordings
    assert sum(tally.followed.values()) >= 80
    assert tally.followed["GET /r/{token} -> [200] answer -> POST /r/{token}"] > 0
    assert tally.followed["GET /d/{token} -> [200] decide -> POST /d/{token}"] > 0
    assert tally.filled > 0
    assert {("GET /r/{token}", 200), ("GET /d/{token}", 200), ("POST /r/{token}", 422),
            ("POST /d/{token}", 200)} <= set(calls)


def test_a_downloaded_attachment_has_a_documented_content_type(portal: Portal) -> None:
    """Found while declaring the links: the download was documented as JSON (FastAPI's
    default), so a real file failed schemathesis's content type check ("Undocumented
    Content-Type. Received: application/pdf, Documented: application/json")."""
    app, client, token = portal.app, portal.client, portal.token
    r = client.post(f"/r/{token}", data=form_of(client, token) | {"status": "done"},
                    files={"attachment": ("bao-cao.pdf", PDF, "application/pdf")})
    assert r.status_code == 200
    with app.session() as s:
        reply = s.exec(select(Reply)).one()
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operation = schema["/r/{token}/files/{reply_id}"]["GET"]
    documented = operation.definition.raw["responses"]["200"]["content"]
    assert "application/json" not in documented and "application/pdf" in documented
    case = operation.Case(path_parameters={"token": token, "reply_id": str(reply.id)})
    response = case.call()
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-type"] == ["application/pdf"]
    case.validate_response(response)  # every check, content type included
    refused = operation.Case(path_parameters={"token": token, "reply_id": "0"})
    answer = refused.call()
    assert answer.status_code == 404
    refused.validate_response(answer)


def test_the_schema_declares_the_links_between_pages(portal: Portal) -> None:
    doc = portal.client.get("/openapi.json").json()
    links = {(path, method, code, name): (link["operationId"], link["parameters"])
             for path, item in doc["paths"].items() for method, op in item.items()
             for code, answer in op["responses"].items()
             for name, link in answer.get("links", {}).items()}
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert {target for target, _ in links.values()} <= ids
    assert all(params["token"] == "$request.path.token" for _, params in links.values())
    assert links[("/r/{token}", "get", "200", "answer")][0] == "answer"
    assert links[("/r/{token}", "get", "200", "in_english")][1]["lang"] == "en"
    assert links[("/r/{token}", "post", "422", "correct")][0] == "answer"
    assert links[("/d/{token}", "get", "200", "decide")][0] == "decide"
    assert links[("/d/{token}", "post", "200", "page_again")][0] == "show_decision"
    body = doc["paths"]["/r/{token}"]["post"]["requestBody"]["content"]
    form = body["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["status", "csrf", "form_nonce"]
    assert "attachment" in body["multipart/form-data"]["schema"]["properties"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", portal.client.app)
    assert schema.statistic.transitions.total >= len(links)
