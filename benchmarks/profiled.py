"""`python -m benchmarks.profiled OUT MODULE [ARGS...]`: run MODULE as `python -m` would,
under cProfile in every thread (a server's event loop and its thread pool), timing CPU
per thread (not waits for the GIL or a lock), and write the
merged statistics to OUT (pstats) when it exits. The portal benchmark uses it through
`measure(..., profile=PATH)`; read the result with `python -m pstats OUT`.
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import runpy
import sys
import threading
import time
from typing import Any

profiles: list[cProfile.Profile] = []
lock = threading.Lock()


def _profiled(original: Any) -> Any:
    def bootstrap_inner(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waits
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    return bootstrap_inner


def main() -> None:
    out, module, *args = sys.argv[1:]
    # every thread, subclasses overriding run() too (anyio's worker threads)
    threading.Thread._bootstrap_inner = _profiled(  # type: ignore[attr-defined]
        threading.Thread._bootstrap_inner)  # type: ignore[attr-defined]
    sys.argv = [module, *args]
    main_profile = cProfile.Profile(time.thread_time)  # CPU, not waits
    main_profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        main_profile.disable()
        stats = pstats.Stats(main_profile)
        with lock:
            for p in profiles:
                p.disable()
                with contextlib.suppress(TypeError):  # a thread that ran no profiled code
                    stats.add(p)
        stats.dump_stats(out)


if __name__ == "__main__":
    main()
