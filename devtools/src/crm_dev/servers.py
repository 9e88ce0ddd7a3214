"""Real servers as plain processes, without Docker: Kafka (KRaft, from the official jars),
Redis, PostgreSQL and an SMTP sink. Used by ``make dev`` and by the tests.

Every server runs in its own process group on a free loopback port and is stopped with
its whole group, so nothing is left behind.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
_HERE = Path(__file__).parent


class ServerError(RuntimeError):
    """A server could not be installed or started."""


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the launching process dies (Linux), so a killed
    supervisor or test run leaves no server behind."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def cache_dir() -> Path:
    """Where downloaded server files live across runs (``CRM_CACHE_DIR``)."""
    root = os.environ.get("CRM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "crm"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ManagedProcess:
    """A server process in its own process group, with its output in a log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    user: str | None = None
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log_file: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def fail(self, why: str) -> ServerError:
        tail = "\n".join(self.log_text().splitlines()[-30:])
        return ServerError(f"{self.name}: {why}\n--- {self.log_path} (tail) ---\n{tail}")

    def wait_until(self, ready: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise self.fail(f"exited with {self.process.returncode if self.process else '?'}")
            if callable(ready) and ready():
                return
            time.sleep(0.1)
        raise self.fail(f"not {what} within {timeout:.0f}s")

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, self.stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc is not None:
            # the leader is gone; make sure no child of its group survives
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


# --- Kafka -----------------------------------------------------------------------------


def kafka_libs() -> Path:
    """The broker's jars, fetched once into the cache (Maven, else the release archive)."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    mvn = shutil.which("mvn")
    if mvn:
        log.info("fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(_HERE / "kafka-pom.xml"),
                f"-Dkafka.version={KAFKA_VERSION}",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(
                f"mvn could not fetch the Kafka jars:\n{result.stdout}{result.stderr}"
            )
    else:
        url = (
            f"https://archive.apache.org/dist/kafka/{KAFKA_VERSION}/"
            f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.tgz"
        )
        log.info("no mvn; downloading %s", url)
        with tempfile.TemporaryDirectory() as work:
            archive = Path(work) / "kafka.tgz"
            urllib.request.urlretrieve(url, archive)
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if "/libs/" in m.name and m.isfile()]
                for member in members:
                    member.name = Path(member.name).name
                tar.extractall(tmp, members=members, filter="data")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.touch()
    return libs


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise ServerError("Java 17+ is needed to run Kafka: install a JDK (e.g. openjdk-17)")
    return java


def kafka_cluster_id() -> str:
    """A new KRaft cluster id (an id starting with "-" would read as an option)."""
    return "c" + base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")[1:]


class KafkaServer:
    """A KRaft node (broker and controller in one process) on free loopback ports: a
    single-node cluster by default, or one node of a :class:`KafkaCluster`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        heap: str = "512m",
        node_id: int = 1,
        controller_port: int | None = None,
        voters: str | None = None,
        cluster_id: str | None = None,
        replication: int = 1,
        min_insync: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.replication = replication
        self.min_insync = min_insync
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: ManagedProcess | None = None
        self._log_start = 0

    def _jvm(self, config_dir: Path) -> list[str]:
        return [
            _java(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={config_dir / 'log4j2.properties'}",
            "-cp",
            f"{kafka_libs()}/*",
        ]

    def launch(self) -> None:
        """Format the data dir once and start the process (not waiting for it)."""
        config_dir = self.data_dir / "config"
        log_dir = self.data_dir / "kraft"
        config_dir.mkdir(parents=True, exist_ok=True)
        props = config_dir / "server.properties"
        props.write_text(
            (_HERE / "kafka-server.properties")
            .read_text()
            .format(
                node_id=self.node_id,
                voters=self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}",
                port=self.port,
                controller_port=self.controller_port,
                log_dir=log_dir,
                replication=self.replication,
                min_isr=self.min_insync,
            )
        )
        (config_dir / "log4j2.properties").write_text(
            (_HERE / "kafka-log4j2.properties").read_text()
        )
        jvm = self._jvm(config_dir)
        # an existing data dir (make dev restart, a broker restarted) keeps its data
        if not (log_dir / "meta.properties").exists():
            cluster_id = self.cluster_id or kafka_cluster_id()
            result = subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise ServerError(f"kafka storage format failed:\n{result.stdout}{result.stderr}")
        self.proc = ManagedProcess(
            f"kafka-{self.node_id}", [*jvm, "kafka.Kafka", str(props)], self.data_dir / "kafka.log"
        )
        self._log_start = len(self.proc.log_text())  # a restarted node logs "started" again
        self.proc.start()

    def wait_started(self, timeout: float = 90.0) -> None:
        proc = self.proc
        if proc is None:
            raise ServerError("kafka was not launched")
        started = "Kafka Server started"
        proc.wait_until(
            lambda: port_open(self.port) and started in proc.log_text()[self._log_start :],
            timeout,
            "started",
        )

    def start(self, timeout: float = 90.0) -> None:
        self.launch()
        self.wait_started(timeout)

    def kill(self) -> None:
        """SIGKILL the node: a crash, no controlled shutdown."""
        if self.proc and self.proc.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.process.pid, signal.SIGKILL)
            self.proc.process.wait(10)
            self.proc.stop()

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=30)


class KafkaCluster:
    """Three KRaft nodes, each its own process and data dir, one quorum: topics with
    replication factor 3 and ``min.insync.replicas=2`` survive the loss of any one."""

    def __init__(
        self,
        data_dir: Path,
        *,
        nodes: int = 3,
        heap: str = "384m",
        ports: Sequence[int | None] = (),
        controller_ports: Sequence[int | None] = (),
    ) -> None:
        """``ports`` and ``controller_ports``: each node's, where given (``make dev``
        reuses last run's); the others are free ports."""
        controllers = [
            (controller_ports[i] if i < len(controller_ports) else None) or free_port()
            for i in range(nodes)
        ]
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
        cluster_id = kafka_cluster_id()
        self.nodes = [
            KafkaServer(
                data_dir / f"node-{i + 1}",
                port=ports[i] if i < len(ports) else None,
                heap=heap,
                node_id=i + 1,
                controller_port=controllers[i],
                voters=voters,
                cluster_id=cluster_id,
                replication=min(3, nodes),
                min_insync=min(2, nodes),
            )
            for i in range(nodes)
        ]
        self.bootstrap = ",".join(node.bootstrap for node in self.nodes)

    def start(self, timeout: float = 120.0) -> None:
        for node in self.nodes:  # together: a node waits for a quorum of controllers
            node.launch()
        for node in self.nodes:
            node.wait_started(timeout)

    def node(self, node_id: int) -> KafkaServer:
        return self.nodes[node_id - 1]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


# --- Redis -----------------------------------------------------------------------------


def redis_binary() -> str:
    """``redis-server`` or ``valkey-server`` from PATH, or a clear error."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    raise ServerError(
        "redis-server not found: run `make setup` (installs it with apt), "
        "or `apt-get install -y redis-server`, or set CRM_REDIS_URL"
    )


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A Redis that keeps its data across a restart in an append-only file (written every
    second), as production must: the notifier's send-once keys live there, and a Redis
    that came back empty would let a mail in flight go out twice. The dev data dir also
    keeps an RDB snapshot."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persist = persist
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: ManagedProcess | None = None

    def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        save = ["--save", "60 1"] if self.persist else ["--save", ""]
        self.proc = ManagedProcess(
            "redis",
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--daemonize",
                "no",
                *save,
            ],
            self.data_dir / "redis.log",
        )
        self.proc.start()
        self.proc.wait_until(lambda: _redis_ping(self.port), timeout, "answering PING")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


# --- PostgreSQL --------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server binaries (Debian layout, or PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise ServerError(
        "PostgreSQL server not found: run `make setup` (installs it with apt), "
        "or `apt-get install -y postgresql`, or set CRM_TEST_POSTGRES_URL"
    )


class PostgresServer:
    """A throwaway PostgreSQL cluster (trust auth on loopback, fsync off: tests only).

    ``settings`` overrides server settings (``{"shared_buffers": "1GB"}``); the default
    is 256 MB of shared buffers, enough for the tests."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, settings: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.settings = {"shared_buffers": "256MB", **(settings or {})}
        self.proc: ManagedProcess | None = None
        self.user: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> None:
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        root = self.data_dir
        if self.user:
            # The server refuses to run as root, and the unprivileged user may not be
            # able to reach a root-owned temp folder: give it a folder of its own.
            root = self.data_dir / "pg"
            root.mkdir(exist_ok=True)
            os.chmod(self.data_dir, 0o755)  # noqa: S103 - the server user must traverse it
            for parent in self.data_dir.parents:
                if parent.stat().st_mode & 0o001 == 0 and str(parent).startswith(
                    tempfile.gettempdir()
                ):
                    os.chmod(parent, parent.stat().st_mode | 0o711)  # noqa: S103
            shutil.chown(root, self.user)
        pgdata = root / "pgdata"
        sockets = root / "sockets"
        sockets.mkdir(exist_ok=True)
        if self.user:
            shutil.chown(sockets, self.user)
        if not (pgdata / "PG_VERSION").exists():
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                user=self.user,
                check=False,
            )
            if result.returncode != 0:
                raise ServerError(f"initdb failed:\n{result.stdout}{result.stderr}")
        self.proc = ManagedProcess(
            "postgres",
            [
                str(bin_dir / "postgres"),
                "-D",
                str(pgdata),
                "-p",
                str(self.port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                *[
                    arg
                    for name, value in self.settings.items()
                    for arg in ("-c", f"{name}={value}")
                ],
            ],
            self.data_dir / "postgres.log",
            user=self.user,
            stop_signal=signal.SIGINT,  # fast shutdown
        )
        self.proc.start()
        isready = str(bin_dir / "pg_isready")
        self.proc.wait_until(
            lambda: (
                subprocess.run(
                    [isready, "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                    check=False,
                ).returncode
                == 0
            ),
            timeout,
            "accepting connections",
        )

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


# --- SMTP sink ---------------------------------------------------------------------------


class SmtpSink:
    """The aiosmtpd sink as a process, storing every mail in a Maildir (or, with
    ``record=True``, only a line per mail in a record file beside the Maildir; see
    :mod:`crm_dev.smtp_sink`).

    A separate process, so a test can stop and restart it to simulate an outage.
    """

    def __init__(self, maildir: Path, *, port: int | None = None, record: bool = False) -> None:
        self.maildir = maildir
        self.port = port or free_port()
        self.record = maildir.parent / "smtp-record.tsv" if record else None
        self.proc: ManagedProcess | None = None

    def start(self, timeout: float = 20.0) -> None:
        self.maildir.mkdir(parents=True, exist_ok=True)
        where = ["--record", str(self.record)] if self.record else ["--maildir", str(self.maildir)]
        self.proc = ManagedProcess(
            "smtp",
            [sys.executable, "-m", "crm_dev.smtp_sink", "--port", str(self.port), *where],
            self.maildir.parent / "smtp.log",
        )
        self.proc.start()
        self.proc.wait_until(lambda: port_open(self.port), timeout, "listening")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU time of a process and its live descendants, plus that of its reaped children
    (PostgreSQL runs a process per connection)."""
    if pid is None:
        return 0.0
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    children: dict[int, list[int]] = {}
    for child, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(child)
    if pid not in stats:
        return 0.0
    ticks = int(stats[pid][13]) + int(stats[pid][14])  # reaped children (cutime, cstime)
    todo = [pid]
    while todo:
        current = todo.pop()
        ticks += int(stats[current][11]) + int(stats[current][12])
        todo.extend(children.get(current, ()))
    return ticks / os.sysconf("SC_CLK_TCK")


_Server = TypeVar("_Server", "KafkaServer", "RedisServer", "PostgresServer")


class LocalServers(contextlib.AbstractContextManager["LocalServers"]):
    """The servers a benchmark needs: the one the environment names (as the test plugin
    reads it: ``CRM_KAFKA_BOOTSTRAP``, ``CRM_REDIS_URL``, ``CRM_TEST_POSTGRES_URL``) or
    one started in a temporary folder, stopped again on exit (last started, first)."""

    def __init__(self, prefix: str = "bench-servers-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self._started: list[KafkaServer | RedisServer | PostgresServer] = []

    def _start(self, server: _Server) -> _Server:
        server.start()
        self._started.append(server)
        return server

    def kafka(self) -> str:
        """Kafka's bootstrap address."""
        named = os.environ.get("CRM_KAFKA_BOOTSTRAP")
        return named or self._start(KafkaServer(self.root / "kafka")).bootstrap

    def redis(self) -> str:
        named = os.environ.get("CRM_REDIS_URL")
        return named or self._start(RedisServer(self.root / "redis")).url

    def postgres(self) -> str:
        """The SQLAlchemy URL of a PostgreSQL server's ``postgres`` database."""
        named = os.environ.get("CRM_TEST_POSTGRES_URL")
        return named or self._start(PostgresServer(self.root / "postgres")).url

    @property
    def postgres_pid(self) -> int | None:
        """The PostgreSQL server process this started (None for a named server), for
        :func:`tree_cpu_seconds`."""
        return self.pids().get("Postgres")

    def pids(self) -> dict[str, int]:
        """The process of each server this started (``Kafka``, ``Redis``, ``Postgres``),
        for :func:`tree_cpu_seconds`."""
        return {
            type(server).__name__.removesuffix("Server"): server.proc.process.pid
            for server in self._started
            if server.proc and server.proc.process
        }

    def __exit__(self, *exc: object) -> None:
        for server in reversed(self._started):
            server.stop()
        shutil.rmtree(self.root, ignore_errors=True)  # a seeded database is gigabytes
