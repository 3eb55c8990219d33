"""The real web server for e2e tests: gunicorn with the project's gunicorn.conf.py on a free port,
always stopped (its whole process group), and a cookie-keeping client that fills CSRF tokens."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import ROOT
from tests.e2e.sipp import free_port

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass
class Served:
    port: int
    proc: subprocess.Popen[bytes]


@contextmanager
def gunicorn(database_url: str, tmp_path: Path, **env_extra: str) -> Iterator[Served]:
    """Serve the web app as `make run` does (its own process group); yields it once /healthz answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "HOME": str(tmp_path),
            "ANIGATE_DATABASE_URL": database_url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "ANIGATE_HTTP_PORT": str(port),
            "ANIGATE_SECRET_KEY": "e2e",
            **env_extra,
        }
    )
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while status(port, "/healthz") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield Served(port, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class Browser:
    """Cookies and CSRF tokens as a browser keeps them; redirects are followed."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str, timeout: float = 60) -> tuple[int, str, str]:
        with self.opener.open(self.base + path, timeout=timeout) as r:
            return r.status, r.geturl(), r.read().decode()

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, str, str]:
        request = urllib.request.Request(self.base + path, body, {"Content-Type": content_type})
        with self.opener.open(request, timeout=60) as r:
            return r.status, r.geturl(), r.read().decode()

    def form(self, path: str, action: str, **fields: str) -> tuple[int, str, str]:
        token = _CSRF.search(self.get(path)[2])
        assert token, path
        body = urllib.parse.urlencode({"csrf_token": token.group(1), **fields}).encode()
        return self.post(action, body, "application/x-www-form-urlencoded")

    def csrf(self, path: str) -> str:
        token = _CSRF.search(self.get(path)[2])
        assert token, path
        return token.group(1)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)
