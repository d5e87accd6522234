"""flows.supervise: real child processes, a clock the test moves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.supervise import Restart, Stopped, Supervisor


def _proc(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _exited(p: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    p.wait(timeout=30)
    return p


def test_a_child_that_exits_is_restarted_after_a_growing_backoff():
    clock, told, started = Clock(), [], []

    def start() -> subprocess.Popen[bytes]:
        started.append(_exited(_proc("raise SystemExit(3)")))
        return started[-1]

    s = Supervisor(report=told.append, clock=clock)
    s.watch("worker", _exited(_proc("raise SystemExit(3)")), start)
    s.check()
    assert told == [Restart("worker", 3, 1.0, 1)] and not started
    clock.now += 0.5
    s.check()
    assert not started  # the backoff has not run out
    clock.now += 0.6
    s.check()
    assert len(started) == 1 and s.children[0].proc is started[0]
    s.check()  # the new one exited too: a longer wait
    assert told[-1] == Restart("worker", 3, 2.0, 2)
    clock.now += 2.0
    s.check()
    s.check()
    assert told[-1] == Restart("worker", 3, 4.0, 3) and len(started) == 2


def test_five_exits_within_ten_minutes_stop_the_set_but_spread_ones_do_not():
    clock = Clock()
    s = Supervisor(clock=clock, max_failures=5, window=600)
    s.watch("portal", _exited(_proc("pass")), lambda: _exited(_proc("pass")))
    for _ in range(4):  # four exits, each restarted
        s.check()
        clock.now += 31
        s.check()
    with pytest.raises(Stopped) as caught:
        s.check()
    assert (caught.value.name, caught.value.why, caught.value.failures) == (
        "portal", "too many exits", 5)

    clock = Clock()
    spread = Supervisor(clock=clock, max_failures=3, window=100)
    spread.watch("sink", _exited(_proc("pass")), lambda: _exited(_proc("pass")))
    for _ in range(6):  # an exit every 60 s: never 3 within 100 s
        spread.check()
        clock.now += 60
        spread.check()
    assert spread.children[0].restarts == 6


def test_an_essential_child_that_exits_stops_at_once_and_live_ones_are_left_alone():
    clock = Clock()
    s = Supervisor(clock=clock)
    alive = _proc("import time; time.sleep(60)")
    try:
        s.watch("worker", alive, lambda: pytest.fail("a live child was restarted"))
        s.watch("Prefect API", _exited(_proc("raise SystemExit(1)")),
                lambda: pytest.fail("an essential child was restarted"), essential=True)
        with pytest.raises(Stopped) as caught:
            s.check()
        assert (caught.value.name, caught.value.returncode, caught.value.why) == (
            "Prefect API", 1, "essential")
        assert alive.poll() is None
    finally:
        alive.kill()
        alive.wait()


def test_the_owner_is_told_which_process_replaced_which():
    clock, seen = Clock(), []
    s = Supervisor(clock=clock, replaced=lambda old, new: seen.append((old, new)))
    first = _exited(_proc("pass"))
    second = _exited(_proc("pass"))
    s.watch("mail sink", first, lambda: second)
    s.check()
    clock.now += 1
    s.check()
    assert seen == [(first, second)]
