"""`python -m benchmarks [--quick] [--only NAME]`: run the benchmarks, print one table.

--quick uses 200 agreements instead of 3,500 (a smoke test; targets are for the full set).
"""

from __future__ import annotations

import argparse
import importlib
import resource
import sys
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from benchmarks.core import Row

AREAS = ["core", "mail", "portal", "flows", "dossier", "soak", "reliability", "calendar"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="200 agreements instead of 3,500")
    parser.add_argument("--only", choices=AREAS, action="append")
    args = parser.parse_args(argv)
    count = 200 if args.quick else 3500
    console = Console()
    rows: list[Row] = []
    started = time.perf_counter()
    for area in args.only or AREAS:
        try:
            module = importlib.import_module(f"benchmarks.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{area}":
                raise
            rows.append({"benchmark": area, "figure": "not built", "target": "", "ok": None,
                         "floor": ""})
            continue
        with console.status(f"{area}…"):
            rows += module.run(count) if area in ("core", "flows", "dossier", "soak") \
                else module.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"benchmark": "peak memory (max RSS of the run)", "figure": f"{peak:.0f} MiB",
                 "target": "≤ 1024 MiB", "ok": peak <= 1024, "floor": ""})
    table = Table(title=f"phoihop benchmarks ({count:,} agreements, "
                        f"{time.perf_counter() - started:.0f} s)", title_justify="left")
    for col in ("benchmark", "figure", "target", "vs floor", "ok"):
        table.add_column(col)
    for r in rows:
        ok = {True: "[green]pass[/]", False: "[red]FAIL[/]"}.get(r["ok"], "—")
        table.add_row(r["benchmark"], r["figure"], r["target"], r.get("floor", ""), ok)
    console.print(table)
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
