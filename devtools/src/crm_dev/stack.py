"""The CRM services as processes: started, watched, killed and restarted.

Shared by ``make dev`` (logs prefixed per service on the terminal) and the end-to-end
tests (logs in files, SIGKILL and restart of one service).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from crm_dev.servers import _die_with_parent, free_port, port_open

# Start order: the gateway last, its readiness depends on every other service.
IMPLEMENTED = (
    "contacts",
    "history",
    "interactions",
    "campaigns",
    "reminders",
    "notifier",
    "gateway",
)
DEFAULT_PORTS = {
    "gateway": 8000,
    "contacts": 8001,
    "history": 8002,
    "interactions": 8003,
    "campaigns": 8004,
    "reminders": 8005,
    "notifier": 8006,
}

LogSink = Callable[[str, str], None]


class ProcessExited(RuntimeError):
    """A service process ended while we waited for it."""


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    sink: LogSink
    process: subprocess.Popen[bytes] | None = None
    _pump: threading.Thread | None = None
    log_lines: list[str] = field(default_factory=list)
    argv: list[str] | None = None
    """The command (default: ``python -m crm_<name>``)."""
    stopped: bool = False
    """Ended on purpose (stop, or a test's kill): the watchdog leaves it alone."""
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.stopped = False
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv or [sys.executable, "-m", f"crm_{self.name}"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._pump = threading.Thread(
            target=self._pump_output, args=(self.process.stdout,), daemon=True
        )
        self._pump.start()

    def _pump_output(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            self.log_lines.append(line)
            if len(self.log_lines) > 5000:
                del self.log_lines[:1000]
            self.sink(self.name, line)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        self.stopped = True
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self._pump:
            self._pump.join(2)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown code runs (the caller restarts it, not the
        watchdog; a process killed from outside is restarted by the watchdog)."""
        self.stopped = True
        self.signal(signal.SIGKILL)
        if self.process:
            self.process.wait(10)
        if self._pump:
            self._pump.join(2)

    def wait_ready(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        """Until ``path`` answers 200; raises if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                tail = "\n".join(self.log_lines[-40:])
                raise ProcessExited(
                    f"{self.name} exited ({self.process and self.process.returncode})\n{tail}"
                )
            try:
                response = httpx.get(f"{self.url}{path}", timeout=5)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        tail = "\n".join(self.log_lines[-40:])
        raise TimeoutError(f"{self.name} {path} not ready in {timeout:.0f}s: {last}\n{tail}")


@dataclass
class StackConfig:
    """Where the servers are and how each service is configured."""

    kafka_bootstrap: str
    redis_url: str
    smtp_host: str
    smtp_port: int
    data_dir: Path
    database_urls: Mapping[str, str] = field(default_factory=dict)
    gateway_port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    maildir: Path | None = None
    fixed_ports: bool = False


class Stack:
    """Runs a set of services against one set of servers.

    With :meth:`watch` a service that dies on its own (a crash, an out-of-memory kill,
    a SIGKILL from outside) is started again, as Kubernetes would: after 0.5 s, then
    doubling up to 30 s while it keeps dying; once it has run a minute the next death
    waits 0.5 s again. Each death and restart is logged under ``supervisor``.
    """

    RESTART_FIRST = 0.5
    RESTART_MAX = 30.0
    RESTART_RESET_AFTER = 60.0

    def __init__(self, config: StackConfig, sink: LogSink | None = None) -> None:
        self.config = config
        self.sink: LogSink = sink or (lambda name, line: None)
        self.ports: dict[str, int] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.restarts: dict[str, int] = {}
        """How often the watchdog restarted each service."""
        self._extra_env: dict[str, Mapping[str, str] | None] = {}
        self._watching = threading.Event()
        self._lock = threading.Lock()

    def port_of(self, name: str) -> int:
        if name not in self.ports:
            if name == "gateway" and self.config.gateway_port:
                self.ports[name] = self.config.gateway_port
            elif self.config.fixed_ports and not port_open(DEFAULT_PORTS[name]):
                self.ports[name] = DEFAULT_PORTS[name]
            else:
                self.ports[name] = free_port()
        return self.ports[name]

    def service_env(self, name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        c = self.config
        prefix = f"CRM_{name.upper()}_"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(
            {
                "CRM_KAFKA_BOOTSTRAP": c.kafka_bootstrap,
                "CRM_REDIS_URL": c.redis_url,
                "CRM_SMTP_HOST": c.smtp_host,
                "CRM_SMTP_PORT": str(c.smtp_port),
                "CRM_DATA_DIR": str(c.data_dir),
                f"{prefix}PORT": str(self.port_of(name)),
                # every link in a mail starts with the gateway's address (CONTRACT.md)
                "CRM_PUBLIC_URL": os.environ.get("CRM_PUBLIC_URL", self.gateway_url),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({k: v for k, v in os.environ.items() if k.startswith("CRM_") and k not in env})
        if name in c.database_urls:
            env[f"{prefix}DATABASE_URL"] = c.database_urls[name]
        if name == "history":  # it has the contacts service resolve selections
            env["CRM_HISTORY_CONTACTS_URL"] = f"http://127.0.0.1:{self.port_of('contacts')}"
        if name == "gateway":
            for other in DEFAULT_PORTS.keys() - {"gateway"}:
                running = other in IMPLEMENTED
                url = f"http://127.0.0.1:{self.port_of(other)}" if running else ""
                env[f"CRM_GATEWAY_{other.upper()}_URL"] = url
            if c.maildir is not None:
                env["CRM_GATEWAY_DEV_MAILDIR"] = str(c.maildir)
        env.update(c.env)
        env.update(extra or {})
        return env

    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        """Start (or restart) one service; does not wait for readiness."""
        with self._lock:
            old = self.services.get(name)
            if old is not None and old.running:
                raise RuntimeError(f"{name} is already running")
            proc = ServiceProcess(
                name, self.port_of(name), self.service_env(name, extra_env), self.sink
            )
            proc.start()
            self.services[name] = proc
            self._extra_env[name] = extra_env
            return proc

    def watch(self, every: float = 0.25) -> None:
        """Restart services that die on their own from now on (see the class docstring)."""
        if self._watching.is_set():
            return
        self._watching.set()
        threading.Thread(target=self._watchdog, args=(every,), daemon=True).start()

    def _watchdog(self, every: float) -> None:
        delays: dict[str, float] = {}
        due: dict[str, float] = {}
        while self._watching.is_set():
            now = time.monotonic()
            for name, proc in list(self.services.items()):
                if proc.stopped or proc.process is None or proc.running:
                    continue
                if name not in due:
                    lived = now - proc.started_at
                    delay = delays.get(name, 0.0)
                    delay = (
                        self.RESTART_FIRST
                        if lived > self.RESTART_RESET_AFTER or not delay
                        else min(delay * 2, self.RESTART_MAX)
                    )
                    delays[name], due[name] = delay, now + delay
                    self.sink(
                        "supervisor",
                        f"{name} died (exit code {proc.process.returncode}) after {lived:.1f} s; "
                        f"restarting in {delay:.1f} s",
                    )
                elif now >= due[name]:
                    del due[name]
                    try:
                        self.start(name, self._extra_env.get(name))
                    except Exception as exc:  # the next round tries again
                        self.sink("supervisor", f"{name} could not be restarted: {exc!r}")
                        continue
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    self.sink("supervisor", f"{name} restarted (restart {self.restarts[name]})")
            time.sleep(every)

    def start_all(self, names: Iterable[str] = IMPLEMENTED, timeout: float = 90.0) -> None:
        """Start services, every one but the gateway in parallel, and wait until ready."""
        names = list(names)
        for name in names:
            self.port_of(name)
        first = [n for n in names if n != "gateway"]
        for name in first:
            self.start(name)
        for name in first:
            self.services[name].wait_ready(timeout)
        if "gateway" in names:
            self.start("gateway").wait_ready(timeout)

    def kill(self, name: str) -> None:
        self.services[name].kill()

    def stop_all(self) -> None:
        self._watching.clear()
        for proc in reversed(list(self.services.values())):
            proc.stop()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port_of('gateway')}"
