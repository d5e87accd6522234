# ruff: noqa: E501  (the log lines as Prefect writes them)
"""Prefect's server log read as `up` reports it: each ERROR one line, with the exception its
traceback ended with; lines already read are not reported again; what Prefect retries by
itself is named so."""

from __future__ import annotations

import re
from pathlib import Path

from flows.doctor import RETRIED, LogWatch, log_errors

LOG = """\
14:19:40.100 | INFO    | prefect.server - Started
14:19:44.722 | ERROR   | docket.dependencies - schedule_recent_deployments() failed
Traceback (most recent call last):
  File "/x/prefect/server/services/scheduler.py", line 10, in run
    await self._insert()
  File "/x/sqlalchemy/orm/persistence.py", line 20, in _do
    raise InvalidRequestError(msg)
sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement; please supply a bulk_dml decorated function
14:19:45.000 | INFO    | prefect.server - still here
14:20:00.264 | ERROR   | prefect.server.utilities.messaging.memory - Failed in consume_loop
Traceback (most recent call last):
  File "/x/aiosqlite/core.py", line 1, in run
sqlite3.OperationalError: database is locked
ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 4200): address already in use
"""


def test_each_error_is_one_line_with_its_exception(tmp_path: Path) -> None:
    log = tmp_path / "prefect-server.log"
    log.write_text(LOG + "14:21:00.000 | ERROR   | half a line, not yet ended")
    errors, offset = log_errors(log)
    assert errors == [
        "14:19:44.722 | ERROR   | docket.dependencies - schedule_recent_deployments() failed "
        "(sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement; please supply "
        "a bulk_dml decorated function)",
        "14:20:00.264 | ERROR   | prefect.server.utilities.messaging.memory - Failed in "
        "consume_loop (sqlite3.OperationalError: database is locked)",
        "ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 4200): "
        "address already in use"]
    assert offset == len(LOG.encode())  # the unfinished last line waits for its end
    assert [e for e in errors if any(re.search(p, e) for p in RETRIED)] == [errors[1]]


def test_what_prefect_recovers_from_by_itself_is_named_and_nothing_else() -> None:
    """The transients CI met (16:30, 03/12/2026), as Prefect 3.8.8 logs them, are retried;
    the same services failing for another reason are not."""
    recovered = [
        "16:30:28.666 | ERROR   | prefect.server.utilities.worker_channel - Worker channel "
        "heartbeat persistence failed: work_pool=phoihop worker_name=phoihop-worker-1 "
        "(sqlite3.OperationalError: database is locked)",
        "16:30:56.805 | ERROR   | docket.dependencies - ↩ [    22ms] "
        "evaluate_proactive_triggers_periodic(){evaluate_proactive_triggers_periodic} "
        "(AssertionError: Trigger._automation has been garbage collected)"]
    failing = [
        "16:30:28.666 | ERROR   | prefect.server.utilities.worker_channel - Worker channel "
        "heartbeat persistence failed: work_pool=phoihop worker_name=phoihop-worker-1 "
        "(sqlalchemy.exc.IntegrityError: FOREIGN KEY constraint failed)",
        "16:30:56.805 | ERROR   | docket.dependencies - ↩ [    22ms] "
        "evaluate_proactive_triggers_periodic(){evaluate_proactive_triggers_periodic} "
        "(KeyError: 'trigger')"]
    assert all(any(re.search(p, e) for p in RETRIED) for e in recovered)
    assert not any(re.search(p, e) for e in failing for p in RETRIED)


def test_the_watch_reports_new_errors_once(tmp_path: Path) -> None:
    log = tmp_path / "prefect-server.log"
    log.write_text(LOG)
    said: list[str] = []
    watch = LogWatch([log, tmp_path / "absent.log"], lambda _p, line: said.append(line))
    watch.poll()
    assert said == []  # what the log held before the watch began is not new
    with log.open("a") as fh:
        fh.write("14:22:00.000 | ERROR   | prefect.server.services.foreman - boom\n")
    watch.poll()
    watch.poll()
    assert said == ["14:22:00.000 | ERROR   | prefect.server.services.foreman - boom"]
