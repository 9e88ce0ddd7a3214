"""Front-end libraries vendored from the npm registry, checked against their record.

``services/gateway/src/crm_gateway/ui/static/vendor/vendor.json`` names each library's
version, its npm tarball and the tarball's ``integrity`` (what ``package-lock.json``
would record), and the sha256 of every file taken from it. The files are served from
the gateway's package, so the image and a wheel carry them and nothing runs npm at
start. ``python -m crm_dev.vendor`` fetches each tarball with ``npm pack``, checks its
integrity and that the vendored files are byte for byte those of the tarball;
``--update`` writes them (after changing a version in the record, recompute with
``npm view <name>@<version> dist.integrity``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VENDOR_DIR = (
    Path(__file__).resolve().parents[3] / "services/gateway/src/crm_gateway/ui/static/vendor"
)
RECORD = VENDOR_DIR / "vendor.json"


def record() -> list[dict[str, Any]]:
    libraries: list[dict[str, Any]] = json.loads(RECORD.read_text())["libraries"]
    return libraries


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_files() -> list[str]:
    """Mismatches between the vendored files and their recorded sha256 (offline)."""
    problems = []
    for library in record():
        for entry in library["files"].values():
            path = VENDOR_DIR / entry["path"]
            if not path.exists():
                problems.append(f"{entry['path']}: missing")
            elif sha256(path.read_bytes()) != entry["sha256"]:
                problems.append(f"{entry['path']}: sha256 differs from vendor.json")
    return problems


def _integrity(data: bytes, expected: str) -> bool:
    algorithm, _, digest = expected.partition("-")
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == digest


def verify(update: bool = False) -> list[str]:
    """Fetch each tarball, check its integrity and (or, with ``update``, write) the files."""
    data = json.loads(RECORD.read_text())
    problems = []
    for library in data["libraries"]:
        spec = f"{library['name']}@{library['version']}"
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                check=True,
                capture_output=True,
            )
            [tarball] = Path(tmp).glob("*.tgz")
            if not _integrity(tarball.read_bytes(), library["integrity"]):
                problems.append(f"{spec}: tarball integrity differs from vendor.json")
                continue
            with tarfile.open(tarball) as archive:
                for member, entry in library["files"].items():
                    handle = archive.extractfile(member)
                    if handle is None:
                        problems.append(f"{spec}: {member} is not in the tarball")
                        continue
                    content = handle.read()
                    target = VENDOR_DIR / entry["path"]
                    if update:
                        target.write_bytes(content)
                        entry["sha256"] = sha256(content)
                    elif not target.exists() or target.read_bytes() != content:
                        problems.append(f"{entry['path']}: not the file of {spec}")
    if update:
        RECORD.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the files from npm")
    args = parser.parse_args()
    problems = verify(update=args.update)
    for problem in problems:
        print(problem, file=sys.stderr)
    print("vendored files match npm" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
