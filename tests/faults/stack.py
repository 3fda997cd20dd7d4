"""The fault suite's world: `fieldapp up` (the supervised stack: nginx, gunicorn, a Celery
worker, one beat) on a scratch instance folder of its own — its own PostgreSQL cluster and
redis, the small synthetic city of tests.support, a few officers and coordinators — and the
simulated phones that file reports through nginx while faults happen (tests/faults).

Never the checkout's instance/: the faults restart PostgreSQL and kill redis, which must not
touch the demo or another test run's services."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Engine, create_engine, text

from fieldapp import localservices
from tests import support

FIELDAPP = Path(sys.executable).parent / "fieldapp"
CATEGORIES = ("wages_labour", "housing_land", "contract", "damages")
SEVERITIES = ("red", "orange", "yellow")
# Officers (one phone each), with their cells; coordinators per township (the notification
# count each report must end with).
OFFICERS = {
    "phone_1": ["991101001001001", "991101001001002"],
    "phone_2": ["991101001002001"],
    "phone_3": ["991101002001001"],
    "phone_4": ["991101002002001"],
}
COORDINATORS = {"coord_w1": "991101001", "coord_w2": "991101001", "coord_e1": "991101002"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_hash(fields: dict[str, Any]) -> str:
    """What the phone sent, canonically: the stored row must give the same hash back."""
    occurred = datetime.fromisoformat(fields["occurred_at"]).astimezone(UTC)
    canonical = [
        fields["id"],
        round(float(fields["lon"]), 6),
        round(float(fields["lat"]), 6),
        fields["category"],
        fields["severity"],
        int(fields["people_involved"]),
        fields["title"],
        fields["description"],
        int(occurred.timestamp()),
    ]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def _png(seed: str) -> bytes:
    """A small photo whose bytes differ per report (the same bytes twice attach once)."""
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", (64, 48), tuple(digest[:3]))
    image.putpixel((0, 0), tuple(digest[3:6]))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Ack:
    report_id: str
    at: float  # time.monotonic() of the acknowledgement
    hash: str
    photo_sha256: str | None = None


@dataclass
class Phone:
    """One officer's phone: files a report, retrying the SAME id until it gets 200/201, then
    (every third report) a photo the same way; keeps its connection alive between requests."""

    name: str
    token: str
    cells: list[tuple[float, float]]
    port: int
    stop: threading.Event
    acks: list[Ack] = field(default_factory=list)
    failures: int = 0
    error: str | None = None  # an answer no retry can fix: the phone stops, the test fails
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Slow enough that the two worker processes keep up on a busy two-core machine (~2.5
    # reports' work a second measured under load 20): the suite tests faults, not capacity.
    pause_s: float = 2.0
    conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        rng = random.Random(self.name)
        n = 0
        while not self.stop.is_set():
            n += 1
            lon, lat = rng.choice(self.cells)
            fields = {
                "id": str(uuid.uuid4()),
                "lon": round(lon + rng.uniform(-0.001, 0.001), 6),
                "lat": round(lat + rng.uniform(-0.001, 0.001), 6),
                "category": rng.choice(CATEGORIES),
                "severity": rng.choice(SEVERITIES),
                "people_involved": rng.randint(1, 30),
                "title": f"{self.name} 第{n}件 纠纷",
                "description": f"故障测试 {uuid.uuid4().hex[:12]}",
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=rng.randint(1, 90)))
                .replace(microsecond=0)
                .isoformat(),
            }
            payload = json.dumps(fields, ensure_ascii=False).encode()
            if not self._until_acked(
                "/api/v1/reports", payload, {"Content-Type": "application/json"}
            ):
                return  # stopped before the acknowledgement: not counted as acknowledged
            ack = Ack(fields["id"], time.monotonic(), body_hash(fields))
            if n % 3 == 0:
                photo = _png(fields["id"])
                boundary = uuid.uuid4().hex
                multipart = (
                    (
                        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; '
                        f'filename="p.png"\r\nContent-Type: image/png\r\n\r\n'
                    ).encode()
                    + photo
                    + f"\r\n--{boundary}--\r\n".encode()
                )
                headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
                if self._until_acked(f"/api/v1/reports/{fields['id']}/photos", multipart, headers):
                    ack.photo_sha256 = hashlib.sha256(photo).hexdigest()
            with self.lock:
                self.acks.append(ack)
            time.sleep(self.pause_s)

    def _until_acked(self, path: str, payload: bytes, headers: dict[str, str]) -> bool:
        """POST until 200/201. Any other answer, a reset or a timeout: send the same again
        after a short pause (phones honour Retry-After; here capped at 0.5 s so that
        recovery times are measured to the half second)."""
        headers = {**headers, "Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        while True:
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                self.conn.request("POST", path, body=payload, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
                if response.status in (200, 201):
                    return True
                if response.status not in (502, 503, 504):
                    self.error = f"{path}: {response.status} {body[:300]!r}"
                    self.stop.set()
                    return False
                if response.getheader("Connection", "").lower() == "close":
                    self._drop()
            except (OSError, http.client.HTTPException):
                self._drop()
            self.failures += 1
            if self.stop.wait(0.5):
                return False

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stack:
    """A scratch instance folder with its own services, and `fieldapp up` on it."""

    def __init__(self) -> None:
        # Short: the sockets' paths must fit sun_path (108 bytes).
        self.instance = Path(tempfile.mkdtemp(prefix="fieldapp-faults-"))
        self.port = free_port()
        self.log = self.instance / "up.log"
        self.up: subprocess.Popen[bytes] | None = None
        self.database_url = ""
        self.engine: Engine | None = None
        self.tokens: dict[str, str] = {}
        self.officer_cells: dict[str, list[tuple[float, float]]] = {}
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ setting up

    def prepare(self) -> None:
        """Private PostgreSQL + redis in the scratch folder, schema, small city, accounts."""
        from sqlalchemy.orm import Session

        from fieldapp import create_app, migrate
        from fieldapp.services import accounts
        from grid.importer import import_boundaries

        quiet: Callable[[str], None] = lambda _m: None  # noqa: E731
        self.database_url = localservices.ensure_postgres(self.instance, progress=quiet)
        localservices.ensure_redis(self.instance, progress=quiet)
        self.engine = create_engine(self.database_url, pool_pre_ping=True)
        migrate.upgrade(self.engine)
        city = support.small_city()
        centres = {f.code: f.geometry.representative_point() for f in city}
        app = create_app(
            {
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": "memory://",
                "SECRET_KEY": "faults",
                "DATA_KEYS_FILE": str(self.instance / "data_keys.json"),
            }
        )
        with app.app_context(), Session(self.engine) as session, session.begin():
            import_boundaries(session, city, source="tests.support.small_city")
            people = [
                *((name, "officer", {"cell_codes": cells}) for name, cells in OFFICERS.items()),
                *((name, "coordinator", {"area_code": a}) for name, a in COORDINATORS.items()),
            ]
            for name, role, where in people:
                user = accounts.create_user(
                    session,
                    username=name,
                    password=support.PASSWORD,
                    display_name=f"故障{name}",
                    role=role,
                    **where,  # type: ignore[arg-type]
                )
                token = accounts.issue_token(session, user, "faults", datetime.now(UTC))
                self.tokens[name] = token.token
        self.officer_cells = {
            name: [(centres[c].x, centres[c].y) for c in cells] for name, cells in OFFICERS.items()
        }
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL") and not k.startswith("PG")
        } | {"FIELDAPP_INSTANCE": str(self.instance), "SECRET_KEY": "faults"}

    def start(self) -> None:
        self.up = subprocess.Popen(
            [str(FIELDAPP), "up", "--no-history", f"--port={self.port}"],
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )

    # ------------------------------------------------------------------ looking

    def get(self, path: str, timeout: float = 3) -> int:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            return status
        except (OSError, http.client.HTTPException):
            return 0

    def outbox_state(self) -> str:
        """What is not done, for a failure message."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT task, dispatched_at IS NOT NULL AS dispatched, attempts, count(*), "
                    "min(now() - created_at) AS youngest, max(now() - created_at) AS oldest "
                    "FROM outbox WHERE done_at IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                )
            ).all()
            checkpoints = conn.execute(
                text(
                    "SELECT id, now() - published_at, now() - consumed_at FROM "
                    "outbox_checkpoints ORDER BY id DESC LIMIT 5"
                )
            ).all()
        broker = ""
        with contextlib.suppress(Exception):
            import redis

            paths = localservices.service_paths(self.instance)
            client = redis.Redis(unix_socket_path=str(paths.redis_socket))
            sizes = {}
            for key in client.keys("*"):
                kind = client.type(key).decode()
                size = {"list": client.llen, "hash": client.hlen, "set": client.scard}.get(kind)
                sizes[key.decode(errors="replace")] = (kind, size(key) if size else "?")
            broker = f"\nbroker keys: {sizes}"
        return (
            "undone outbox rows:\n"
            + "\n".join(map(str, rows))
            + ("\ncheckpoints (newest first):\n" + "\n".join(map(str, checkpoints)))
            + broker
        )

    def ready(self) -> bool:
        return self.get("/readyz") == 200

    def children(self) -> dict[int, str]:
        assert self.up is not None
        return children_of(self.up.pid)

    def one(self, marker: str) -> int:
        found = [p for p, cmd in self.children().items() if marker in cmd and alive(p)]
        assert len(found) == 1, (marker, self.children())
        return found[0]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(
        self,
        what: str,
        check: Callable[[], bool],
        timeout: float = 120,
        describe: Callable[[], str] | None = None,
    ) -> float:
        """Seconds until check() holds (polled every 0.1 s); fails with the log's tail."""
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                tail = "\n".join(self.log_text().splitlines()[-40:])
                state = describe() if describe else ""
                raise AssertionError(
                    f"waited {timeout} s for {what}\n{state}\nup.log ends:\n{tail}"
                )
            time.sleep(0.1)
        return time.monotonic() - started

    # ------------------------------------------------------------------ PostgreSQL, redis

    def restart_postgres(self, mode: str) -> None:
        """pg_ctl restart -m fast|immediate, as localservices starts it (as the postgres user
        when root, its output appended to the log by us: that user may not write there)."""
        paths = localservices.service_paths(self.instance)
        bindir = localservices.find_pg_bindir(paths)
        argv: list[str | Path] = [
            bindir / "pg_ctl",
            "-D",
            paths.pg_data,
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            "restart",
        ]
        with open(paths.pg_log, "ab") as log:
            subprocess.run(
                [str(a) for a in localservices._as_pg_user(argv)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=localservices._clean_env(),
                cwd="/",
                timeout=120,
                check=True,
            )

    def kill_redis(self) -> None:
        paths = localservices.service_paths(self.instance)
        pid = localservices._redis_pid(paths)
        assert pid is not None, "redis is not running"
        os.kill(pid, signal.SIGKILL)
        localservices._wait_gone(pid, 10)

    def start_redis(self) -> None:
        localservices.ensure_redis(self.instance, progress=lambda _m: None)

    # ------------------------------------------------------------------ tearing down

    def stop(self, timeout: float = 120) -> int | None:
        if self.up is None or self.up.poll() is not None:
            return self.up.returncode if self.up else None
        self.up.send_signal(signal.SIGTERM)
        try:
            return self.up.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.up.pid, signal.SIGKILL)
            self.up.kill()
            self.up.wait()
            raise

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        # The log outlives the scratch folder, for a look after a failure.
        with contextlib.suppress(OSError):
            shutil.copy(self.log, Path(tempfile.gettempdir()) / "fieldapp-faults-up.log")
        if self.engine is not None:
            self.engine.dispose()
        with contextlib.suppress(Exception):
            localservices.remove_private_data(self.instance, progress=lambda _m: None)
        shutil.rmtree(self.instance, ignore_errors=True)


def children_of(pid: int) -> dict[int, str]:
    """Direct children of pid with their command lines."""
    found: dict[int, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                for child in (task / "children").read_text().split():
                    try:
                        cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                    except FileNotFoundError:
                        continue
                    found[int(child)] = cmd.decode(errors="replace")
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


__all__ = ["Ack", "Phone", "Stack", "alive", "body_hash", "children_of", "support"]
