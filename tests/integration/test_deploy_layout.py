"""The production layout under deploy/: the nginx site passes `nginx -t`, the systemd units pass
`systemd-analyze verify`, exactly one beat is defined, the upload limit matches the app's, and
the environment template lists every setting the code reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fieldapp import config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx" / "fieldapp.conf"
UNITS = DEPLOY / "systemd"
# Read by localservices to place the private services' files: not a setting of production.
NOT_SETTINGS = {"XDG_STATE_HOME"}


def _settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(
        r"""(?:environ\.get|env\.get|getenv|environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)"""
    )
    constant = re.compile(r"""^[A-Z_]+_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']""", re.M)
    for package in ("fieldapp", "workers", "grid", "maps"):
        for path in (REPO / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            names |= set(pattern.findall(source)) | set(constant.findall(source))
    return names - NOT_SETTINGS


def test_the_environment_template_lists_every_setting() -> None:
    template = (DEPLOY / "fieldapp.env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", template, re.M))
    missing = sorted(_settings_read_by_the_code() - listed)
    assert not missing, f"add to deploy/fieldapp.env.example: {missing}"
    assert {"DATABASE_URL", "SECRET_KEY", "FIELDAPP_LOG_FORMAT"} <= listed


def test_nginx_takes_the_same_upload_limit_as_the_app(tmp_path: Path) -> None:
    limit = config.from_environment(tmp_path)["MAX_CONTENT_LENGTH"]
    [size] = re.findall(r"client_max_body_size\s+(\d+)m;", SITE.read_text())
    assert int(size) * 1024 * 1024 == limit


@pytest.mark.skipif(shutil.which("nginx") is None, reason="apt-get install nginx-light")
def test_the_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=grid.example.gov.cn",
            "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    site = (
        SITE.read_text()
        .replace("/etc/fieldapp/tls/", f"{tmp_path}/")
        .replace("/opt/fieldapp/app/", f"{REPO}/")
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    )
    done = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr
    assert (REPO / "fieldapp" / "static").is_dir()  # what /static/ is served from


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    venv_bin = Path(shutil.which("gunicorn") or REPO / ".venv" / "bin" / "gunicorn").parent
    for unit in UNITS.iterdir():
        text = (
            unit.read_text()
            .replace("/opt/fieldapp/venv/bin", str(venv_bin))
            .replace("/opt/fieldapp/app", str(REPO))
        )
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "fieldapp.gunicorn_config" in (UNITS / "fieldapp-web.service").read_text()


def _exec_start(unit: str) -> str:
    """The ExecStart command of a unit, its continuation lines joined."""
    text = (UNITS / unit).read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return " ".join(line.split())


def test_exactly_one_beat_and_workers_without_one() -> None:
    worker = _exec_start("fieldapp-worker.service")
    assert "workers.app worker" in worker
    assert " -B" not in worker and "--beat" not in worker and " beat" not in worker
    assert "workers.app beat" in _exec_start("fieldapp-beat.service")
    procfile = [
        line for line in (DEPLOY / "Procfile").read_text().splitlines() if not line.startswith("#")
    ]
    processes = [line.split(":", 1)[0] for line in procfile if line.strip()]
    assert processes == ["web", "worker", "beat"]
    assert sum(" beat " in line for line in procfile) == 1
    assert all(" -B" not in line for line in procfile)
