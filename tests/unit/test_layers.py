"""The layers of docs/architecture.md are a contract the suite checks (.importlinter):
each layer imports only the layers below it, no module circles inside a layer, the entry
points (cli, flows, portal) touch no table, and no exception is listed."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_PROGRAM = {"tests", "benchmarks", "scripts", "docs"}


def _contract() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser


def test_the_layer_contracts_hold_with_no_exception_listed() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout, done.stdout
    for section in _contract().sections():
        assert not _contract().has_option(section, "ignore_imports"), section


def test_every_package_of_the_program_is_inside_the_layers() -> None:
    """A new top-level package is placed in the contract, not left outside it."""
    contract = _contract()
    roots = set(contract.get("importlinter", "root_packages").split())
    layered = {name.strip() for line in contract.get(
        "importlinter:contract:layers", "layers").split() for name in line.split("|")} - {""}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_PROGRAM
    assert packages == roots == layered
