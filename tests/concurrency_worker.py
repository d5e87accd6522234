"""A sweep in a process of its own, for tests/integration/test_concurrency.py.

`sweep_rounds` is started with multiprocessing's spawn context: it bootstraps its own App
(engine, sessions) on the database it is given and, for each instant, waits at the shared
barrier with the other sweeping processes, then runs the sweep's real `fire_steps` (tick
and enqueue in one write transaction) and reports what it fired (with its process id).
"""

from __future__ import annotations

import os
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any


def sweep_rounds(db_url: str, data_dir: str, instants: list[str], barrier: Any,
                 out: Any) -> None:
    from config.bootstrap import bootstrap
    from config.settings import Settings
    from services.ladder import fire_steps

    app = bootstrap(Settings(database_url=db_url, data_dir=Path(data_dir)))
    try:
        for at in instants:
            barrier.wait(timeout=120)
            items = fire_steps(app, datetime.fromisoformat(at))
            out.put(("fired", f"{at}|{os.getpid()}", [(i.obligation_key, i.step, tuple(i.skipped),
                                    tuple(sorted(r.contact_id for r in i.recipients)))
                                   for i in items]))
        out.put(("done", None, []))
    except BaseException:
        barrier.abort()
        out.put(("error", traceback.format_exc(), []))
    finally:
        app.engine.dispose()
