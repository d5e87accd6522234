"""A ladder run in its own process, for crash tests: fire, enqueue, send (then exit)."""

from __future__ import annotations

import sys
from datetime import datetime

from config.bootstrap import bootstrap
from config.settings import load_settings
from services import delivery
from services import ladder as ladder_work

if __name__ == "__main__":
    at = datetime.fromisoformat(sys.argv[1])
    app = bootstrap(load_settings(), clock=lambda: at)
    ladder_work.fire_steps(app, at)
    delivery.deliver(app, at, worker=sys.argv[2])
