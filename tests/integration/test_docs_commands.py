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
  it exits 1 by design, tests/integration/test_cli_truth.py),
- `phoihop doctor` (checks a running stack: all ✓ against `up` in tests/e2e/test_up_stack.py;
  without one it exits 1 by design, tests/integration/test_doctor.py).
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
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS_A_STACK = ("up", "demo", "portal", "sync", "doctor")
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


def test_every_command_example_in_the_docs_runs(tmp_path: Path, monkeypatch):
    """In this process (typer's runner: a fresh settings load and console state for each
    command, the real `phoihop` app), so that the docs' ~20 examples cost seconds."""
    import cli.common
    import cli.store_cmds

    for name in [k for k in os.environ if k.startswith(("PHOIHOP_", "PREFECT_"))
                 and not k.startswith("PHOIHOP_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PHOIHOP_CONFIG", "")  # empty: none; restored after the test
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    ran = 0
    for doc, number, text in examples():
        words = shlex.split(text)
        extra = dict(ENV.match(w).groups() for w in words if ENV.match(w))  # type: ignore[union-attr]
        args = [w for w in words if not ENV.match(w)][1:]
        if args[0] in NEEDS_A_STACK or _a_mention(args):
            continue
        _fresh_process(cli.common, cli.store_cmds)
        out = runner.invoke(app, args, env=extra)
        assert out.exit_code == 0, f"{doc}:{number}: `{text}` exited {out.exit_code}: " \
                                   f"{out.exception!r} {out.output[-500:]}"
        ran += 1
    _fresh_process(cli.common, cli.store_cmds)
    assert ran >= 10


def _fresh_process(common, store_cmds) -> None:
    """Each command loads its settings and opens its database, as a new process does."""
    if common._app is not None and common._app._engine is not None:
        common._app._engine.dispose()
    common._app = None
    store_cmds._migrated = False


def test_one_example_through_the_real_entry_point(tmp_path: Path):
    """The same as a user runs it: a new process, `python -m cli.main`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
    env.update(PHOIHOP_DATA_DIR=str(tmp_path), PHOIHOP_LANGUAGE="en")
    readme = [e for e in examples() if e[0] == "README.md" and " validate " in f" {e[2]} "]
    assert readme
    out = subprocess.run([sys.executable, "-m", "cli.main", *shlex.split(readme[0][2])[1:]],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.count(": valid") == 2, out.stderr


if __name__ == "__main__":  # list what the test runs
    for e in examples():
        print(*e)
    pytest.main([__file__])
