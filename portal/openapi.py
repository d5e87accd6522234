"""What the portal's OpenAPI document says beyond FastAPI's defaults (metadata only).

Every page is HTML. The links (OpenAPI `links` on responses) say which request a page
leads to, with the same link token (`$request.path.token`): a reply page to its form's
POST and to itself in the other language, a recorded reply back to its page, a form with
errors to the corrected POST, a decision page to its POST and the decided one back to
its page. A stateful fuzz (schemathesis) follows them. The form's hidden fields (`csrf`,
`form_nonce`) are in the page's HTML, which a link expression cannot read: a client
takes them from the page, as a browser does.
"""

from __future__ import annotations

from typing import Any

from core.statuses import ReplyStatus
from portal import uploads

PAGE: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}
# What every route may answer besides 200 (all HTML pages); FastAPI(responses=...).
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": PAGE} for code, text in (
        (400, "Malformed form"), (403, "Cross-site request or missing form token"),
        (404, "Refused link (unknown, tampered, expired or revoked: one page)"),
        (409, "Already decided"), (413, "Request body over 11 MiB"),
        (422, "Form with errors, shown next to their fields"), (429, "Rate limit"),
        (503, "Attachment could not be stored; nothing recorded"))}

LANG: dict[str, Any] = {
    "name": "lang", "in": "query", "required": False,
    "description": "vi or en: the page's language, remembered in a cookie (lang); any "
                   "other value is ignored (the cookie's, else the agreement's language)",
    "schema": {"type": "string"}}

_FORM_TOKEN = {"csrf": {"type": "string", "description": "The page form's hidden field"},
               "form_nonce": {"type": "string", "description": "The page form's hidden "
                              "field; the same form sent again returns what it recorded"}}
_REPLY_FIELDS: dict[str, Any] = {
    "status": {"type": "string", "enum": list(ReplyStatus)},
    "percent": {"type": "string", "description": "A whole number 0–100; required with "
                "in_progress"},
    "until": {"type": "string", "description": "dd/mm/yyyy (or yyyy-mm-dd), after the "
              "current due date; required with extension"},
    "reason": {"type": "string", "description": "Required with blocked"},
    "note": {"type": "string"}, "answered_by": {"type": "string"}, **_FORM_TOKEN}
_INDICATORS = {"^v-": {"type": "string", "description": "v-<indicator id>: its value as "
                       "typed in the page's language (1.520 / 63,4 in Vietnamese), checked "
                       "by the indicator's kind and at_most"},
               "^pick-v-": {"type": "string", "description": "pick-v-<indicator id>: the "
                            "reading chosen for an ambiguous value (one the page offered)"}}
REPLY_BODY: dict[str, Any] = {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["status", "csrf", "form_nonce"],
        "properties": _REPLY_FIELDS, "patternProperties": _INDICATORS}},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["status", "csrf", "form_nonce"],
        "properties": {**_REPLY_FIELDS, "attachment": {
            "type": "string", "format": "binary",
            "description": f"At most 10 MiB, one of {uploads.ACCEPT} (read from the bytes)"}},
        "patternProperties": _INDICATORS}}}}
DECISION_BODY: dict[str, Any] = {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["csrf", "form_nonce"],
        "properties": {"comment": {"type": "string", "description": "Required to return "
                                   "a report for revision"}, **_FORM_TOKEN}}}}}
FILE: dict[str, Any] = {
    kind: {"schema": {"type": "string", "format": "binary"}} for kind in uploads.EXTENSIONS}


SAME_LANG = "$request.query.lang"  # the language asked, kept along a link


def link(operation: str, description: str, **parameters: str) -> dict[str, Any]:
    """A link to `operation` with the same link token (and `parameters`)."""
    return {"operationId": operation, "description": description,
            "parameters": {"token": "$request.path.token", **parameters}}


def responses(links: dict[int, dict[str, dict[str, Any]]]
              ) -> dict[int | str, dict[str, Any]]:
    """A route's responses with their links, by status (as RESPONSES says, and 200)."""
    return {code: {**RESPONSES.get(code, {}), "links": named} for code, named in links.items()}


REPLY_PAGE = responses({
    200: {"answer": link("answer", "Send the page's form", lang=SAME_LANG),
          "in_english": link("show_reply", "The page in English", lang="en"),
          "in_vietnamese": link("show_reply", "The page in Vietnamese", lang="vi"),
          "headers_only": link("show_head", "The same page, headers only")}})
HOME_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "What phoihop is and whom to contact (HTML)", "content": PAGE}}
REPLY_HEAD = responses({200: {"open": link("show_reply", "Open the page")}})
REPLY_POST = responses({
    200: {"page_again": link("show_reply", "The page with the recorded reply in its "
                             "history", lang=SAME_LANG)},
    403: {"reload": link("show_reply", "Reload the page for a fresh form")},
    422: {"correct": link("answer", "Send the corrected form", lang=SAME_LANG),
          "reload": link("show_reply", "Leave the form and reload the page")}})
DECISION_PAGE = responses({
    200: {"decide": link("decide", "Confirm the decision", lang=SAME_LANG),
          "in_english": link("show_decision", "The page in English", lang="en")},
    409: {"decide_anyway": link("decide", "Act on a decided report (refused, 409)")}})
DECISION_POST = responses({
    200: {"page_again": link("show_decision", "The link's page: already decided")},
    403: {"reload": link("show_decision", "Reload the page for a fresh form")},
    409: {"page_again": link("show_decision", "The link's page: already decided")},
    422: {"with_comment": link("decide", "Send it again with a comment")}})
FEED: dict[int | str, dict[str, Any]] = {200: {
    "description": "The party's deadlines (iCalendar, RFC 5545)",
    "content": {"text/calendar": {"schema": {"type": "string"}}},
    "links": {"headers_only": link("feed_head", "The same feed, headers only")}}}
