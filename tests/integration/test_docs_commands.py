"""The docs cannot drift: every `phoihop` command example in README.md and docs/*.md runs
in a scratch data directory, in the order written, and must exit 0.

An example is a line of a ```sh block, or an inline `phoihop …` span, that names no
placeholder (`FILE`, `CODE`, `K`, `[--json]`, `...`: those are the command table's
templates, whose options `tests/unit/test_docs.py` checks against `--help`). A bare
verb that needs arguments (`phoihop import` in a sentence) names the command, it is no
example.
Skipped, because they start or need a running stack (a Prefect server, a worker, a
portal that serves until Ctrl-C) and the suite proves them elsewhere:
- `phoihop up`, `phoihop demo` (tests/e2e/test_up_signals.py, tests/integration/test_demo.py),
- `phoihop portal` (serves until stopped: tests/integration/test_cli_truth.py starts it),
- `phoihop sync` (needs `up`'s Prefect API: tests/integration/test_flows.py; without one
  it exits 1 by design, tests/integration/test_cli_truth.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS_A_STACK = ("up", "demo", "portal", "sync")
# a placeholder: an upper-case word of the command table (FILE, CODE, K, ISO, DIR...),
# an optional part in brackets, an ellipsis, a choice
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*(\.\.\.)?$|[\[<|]|\.\.\.|…")
ENV = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S+)$")


def examples() -> list[tuple[str, int, str]]:
    """(file, line, command) of every runnable example, in reading order."""
    found: list[tuple[str, int, str]] = []
    for doc in DOCS:
        in_sh = False
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                in_sh = not in_sh and line.strip() in ("```sh", "```bash", "```console")
                continue
            candidates = [line.split("#", 1)[0].strip()] if in_sh else \
                re.findall(r"`((?:[A-Z_]+=\S+ )*phoihop [^`]+)`", line)
            for text in candidates:
                words = text.split()
                rest = [w for w in words if not ENV.match(w)]
                if not rest or rest[0] != "phoihop" or len(rest) < 2:
                    continue
                if any(PLACEHOLDER.search(w) for w in rest[1:]):
                    continue
                found.append((doc.name, number, text))
    return found


def test_the_readme_has_runnable_examples():
    readme = [e for e in examples() if e[0] == "README.md"]
    assert len(readme) >= 8, readme
    verbs = {[w for w in shlex.split(e[2]) if not ENV.match(w)][1] for e in readme}
    assert {"validate", "plan", "import", "obligations", "config"} <= verbs


def _a_mention(args: list[str]) -> bool:
    """`phoihop plan` in a sentence: a verb that needs arguments, given none."""
    command = typer.main.get_group(app).commands.get(args[0])
    return len(args) == 1 and command is not None and any(
        p.required for p in command.params)


def test_every_command_example_in_the_docs_runs(tmp_path: Path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PHOIHOP_", "PREFECT_")) or k.startswith("PHOIHOP_TEST_")}
    env.update(PHOIHOP_DATA_DIR=str(tmp_path / "data"), PREFECT_HOME=str(tmp_path / "prefect"))
    ran = 0
    for doc, number, text in examples():
        words = shlex.split(text)
        extra = dict(ENV.match(w).groups() for w in words if ENV.match(w))  # type: ignore[union-attr]
        args = [w for w in words if not ENV.match(w)][1:]
        if args[0] in NEEDS_A_STACK or _a_mention(args):
            continue
        out = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                             text=True, env={**env, **extra}, cwd=ROOT, timeout=120)
        assert out.returncode == 0, f"{doc}:{number}: `{text}` exited {out.returncode}: " \
                                    f"{out.stderr.strip()[-500:]}"
        assert "Traceback" not in out.stderr, f"{doc}:{number}: {text}"
        ran += 1
    assert ran >= 10


if __name__ == "__main__":  # list what the test runs
    for e in examples():
        print(*e)
    pytest.main([__file__])
