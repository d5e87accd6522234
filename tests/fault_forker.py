"""A fork server for kill -9 tests: imports the program once, then runs each task in a
forked child, which it kills -9 after the delay the task names.

A fresh interpreter spends 1-4 s importing SQLAlchemy, SQLModel and the program; a fork of
this (single-threaded) process starts at once. A child opens its own database engine. The
kill is sent from here, before the child is reaped, so it can never reach another process.

Protocol: one JSON object a line on stdin, {"task": "send" | "write", "kill_after": seconds
or null, ...}. For each, this process prints `started PID`; the child prints `PID ...`
lines (each a single write, after the fact it reports); once the child is gone this process
prints `ended PID CODE KILLED` (CODE negative: the signal that ended it; KILLED 1 if the
kill was sent before it ended by itself). End of stdin ends the server.

- send: fire the ladder steps due at `at`, record their messages and send them (what a
  ladder run does, services/); prints `PID report {json}` at the end.
- write: record replies (models/replies.py, as the portal does) in a loop, 1 to 40 a
  transaction; prints `PID begin N` before transaction N and `PID ack ID:VERSION:PERCENT
  ...` once its commit has returned.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from config.bootstrap import App, bootstrap
from config.settings import MailTransport, Settings
from services import delivery
from services import ladder as ladder_work
from services.replies import record_reply


def app_for(task: dict[str, Any], at: datetime) -> App:
    settings = Settings(database_url=task["database_url"], data_dir=Path(task["data_dir"]),
                        mail=MailTransport(port=task.get("smtp_port", 8025)),
                        portal_url="http://127.0.0.1:8600",
                        lease_seconds=task.get("lease_seconds", 120.0))
    return bootstrap(settings, clock=lambda: at)


def say(line: str) -> None:
    """A child's line, `PID ...`."""
    os.write(1, f"{os.getpid()} {line}\n".encode())  # one write: never split or interleaved


def tell(line: str) -> None:
    """This server's line (one write too: a child writes to the same pipe)."""
    os.write(1, f"{line}\n".encode())


def send(task: dict[str, Any]) -> None:
    at = datetime.fromisoformat(task["at"])
    app = app_for(task, at)
    fired = ladder_work.fire_steps(app, at)
    report = delivery.deliver(app, at, worker=task["worker"])
    say("report " + json.dumps({"fired": len(fired), "sent": report.sent,
                                "messages": report.messages, "unknown": report.unknown,
                                "retried": report.retried, "dead": report.dead}))


def write(task: dict[str, Any]) -> None:
    """Replies in transactions of 1 (most) to 40, notes up to 3 KB (a commit of many pages)."""
    at = datetime.fromisoformat(task["at"])
    app = app_for(task, at)
    rng = random.Random(task["seed"])
    keys: list[str] = task["obligations"]
    for n in range(task.get("transactions", 10**9)):
        made = []
        say(f"begin {n}")
        with app.session(write=True) as s:
            for i in range(1 if rng.random() < 0.7 else rng.randint(2, 40)):
                percent = rng.randint(0, 100)
                reply = record_reply(s, app, obligation_key=rng.choice(keys),
                                     status="in_progress", percent=percent, at=at,
                                     note="ghi chú " * rng.randint(0, 300),
                                     submission=f"{task['seed']}-{n}-{i}", source="portal")
                made.append(f"{reply.id}:{reply.version}:{percent}")
        say("ack " + " ".join(made))  # the commit has returned


TASKS = {"send": send, "write": write}


def run_child(task: dict[str, Any]) -> None:
    code = 0
    try:
        TASKS[task["task"]](task)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    for line in sys.stdin:
        task = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(task)
        tell(f"started {pid}")
        kill_at = None if task.get("kill_after") is None else \
            time.monotonic() + float(task["kill_after"])
        killed = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if kill_at is not None and not killed and time.monotonic() >= kill_at:
                os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's
                killed = True
            time.sleep(0.001)
        tell(f"ended {pid} {os.waitstatus_to_exitcode(status)} {int(killed)}")


if __name__ == "__main__":
    main()
