"""The image, checked by what its Dockerfile runs (no container engine here).

The build stage's COPY and ``uv sync`` steps are read from ``deploy/Dockerfile`` and run
in a scratch folder with the same environment, so a step that breaks (a member missing
from the copies, a lock out of date, a dev tool leaking in) fails here as it would in
``docker build``. The result must hold every service's command and the operator CLI, run
them, and hold nothing of the dev tools.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SERVICES = ("contacts", "history", "interactions", "campaigns", "reminders", "notifier", "gateway")


def _build_stage() -> list[tuple[str, str]]:
    """(instruction, arguments) of the first stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages = re.split(r"^FROM .*$", text, flags=re.M)
    lines = [line.strip() for line in stages[1].splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _env(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def _copy(source: Path, target: Path, *, into: bool) -> None:
    """Docker's COPY: a file into a folder (``dest/``) or a folder's contents onto one."""
    if source.is_dir():
        shutil.copytree(
            source,
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "tests", ".venv"),  # .dockerignore
        )
    else:
        target.mkdir(parents=True, exist_ok=True) if into else target.parent.mkdir(
            parents=True, exist_ok=True
        )
        shutil.copy2(source, target / source.name if into else target)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("image")
    src = work / "src"
    src.mkdir()
    venv = work / "venv"
    env = {**os.environ}
    for instruction, args in _build_stage():
        if instruction == "ENV":
            env.update(_env(args))
        elif instruction == "COPY":
            *sources, target = shlex.split(args)
            for source in sources:
                _copy(ROOT / source, src / target, into=target.endswith("/"))
        elif instruction == "RUN" and args.startswith("uv sync"):
            env["UV_PROJECT_ENVIRONMENT"] = str(venv)  # /opt/crm/venv in the image
            env.pop(
                "UV_NO_CACHE", None
            )  # the image builds without a cache; here the shared one saves minutes
            env.pop("VIRTUAL_ENV", None)
            uv, *rest = shlex.split(args)
            result = subprocess.run(
                [shutil.which(uv) or str(Path.home() / ".local/bin/uv"), *rest],
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, f"{args}\n{result.stdout}{result.stderr}"
    return venv


def test_the_dockerfile_builds_a_virtualenv_with_every_command(image_venv: Path) -> None:
    bin_dir = image_venv / "bin"
    for name in SERVICES:
        assert (bin_dir / f"crm-{name}").exists(), f"crm-{name} missing from the image"
    result = subprocess.run(
        [str(bin_dir / "crm"), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("migrate", "dlq", "timeline", "reminders", "lag"):
        assert command in result.stdout


def test_the_image_holds_no_dev_tools_and_not_the_sources(image_venv: Path) -> None:
    site = next(image_venv.glob("lib/python3*/site-packages"))
    names = {p.name.lower() for p in site.iterdir()}
    for dev in ("pytest", "ruff", "mypy", "crm_dev", "testcontainers", "aiosmtpd"):
        assert not any(n == dev or n.startswith(f"{dev}-") for n in names), f"{dev} in the image"
    # installed as wheels, not linked to the build folder (the final stage copies the venv)
    assert not list(site.glob("*.pth")) or all(
        "/src" not in p.read_text() for p in site.glob("*.pth")
    )
    migrations = list(site.glob("crm_*/migrations/versions/*.py"))
    assert {p.parts[-4] for p in migrations} >= {f"crm_{n}" for n in SERVICES}


def test_the_final_stage_runs_as_an_unprivileged_user() -> None:
    final = re.split(r"^FROM .*$", DOCKERFILE.read_text(), flags=re.M)[-1]
    assert re.search(r"^USER 10001:10001$", final, flags=re.M)
    assert "COPY --from=build /opt/crm/venv /opt/crm/venv" in final
    assert "uv" not in re.sub(r"--from=build", "", final).split()  # no build tool inside
