"""`make dev`'s supervisor: ready with a URL, demo data mailed, a service that dies is
started again (the gateway answering 503 meanwhile), Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from crm_dev.servers import free_port

READY_LINE = "CRM is running: "


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line or environment mentions ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(entry.name))
    return found


def start_supervisor(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_DATA_DIR=str(data_dir), CRM_GATEWAY_PORT=str(port), PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_dev.supervisor"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if READY_LINE in line:
            url = line.split(READY_LINE, 1)[1].split()[0]
            return proc, url, time.monotonic() - started
        if time.monotonic() - started > 180:
            break
    proc.kill()
    raise AssertionError("supervisor never got ready:\n" + "".join(lines[-60:]))


def stop(proc: subprocess.Popen[str], data_dir: Path) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(60) == 0
    deadline = time.monotonic() + 10
    while processes_mentioning(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(data_dir)) == [], "processes left behind"


def test_make_dev_starts_everything_and_restarts_fast(tmp_path: Path) -> None:
    data_dir = tmp_path / "crm-dev"
    port = free_port()
    proc, url, first = start_supervisor(data_dir, port)
    try:
        assert url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        deadline = time.monotonic() + 15  # the demo interaction's mail reaches the sink
        mails: list[dict] = []
        while not mails and time.monotonic() < deadline:
            mails = httpx.get(f"{url}/dev/mail?format=json").json()["items"]
            time.sleep(0.2)
        assert [m["to"] for m in mails] == ["erika.mustermann@example.org"]
    finally:
        stop(proc, data_dir)

    proc, url, second = start_supervisor(data_dir, port)
    output = read_on(proc)
    try:
        print(f"first start ready in {first:.1f}s, second in {second:.1f}s")
        assert second < 60
        token = httpx.post(
            f"{url}/api/auth/token", json={"username": "admin", "password": "admin"}
        ).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        contacts = httpx.get(f"{url}/api/contacts", headers=auth)
        assert len(contacts.json()["items"]) == 3  # demo data kept, not created twice
        killed_and_back(data_dir, f"{url}/api/contacts", auth)
    finally:
        stop(proc, data_dir)
    logged = "".join(output)
    assert "contacts died (exit code -9)" in logged, logged[-3000:]
    assert "contacts restarted (restart 1)" in logged


def read_on(proc: subprocess.Popen[str]) -> list[str]:
    """The supervisor's further output, read as it comes (a full pipe would block it)."""
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def killed_and_back(data_dir: Path, url: str, auth: dict[str, str]) -> None:
    """SIGKILL the contacts service: the gateway answers 503 problem+json with
    ``Retry-After`` until the supervisor has started it again, then the list again."""
    (pid,) = [
        p
        for p in processes_mentioning(str(data_dir))
        if b"crm_contacts" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    os.kill(pid, signal.SIGKILL)
    while is_alive(pid):  # gone, or a zombie until the supervisor reaps it
        time.sleep(0.01)
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=auth, timeout=10)
        statuses.append(answer.status_code)
        if answer.status_code == 200 and len(statuses) > 1:
            break
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "retry-after" in answer.headers
        time.sleep(0.1)
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    assert len(answer.json()["items"]) == 3
