"""The security tests run once per operation of the whole API's OpenAPI document
(``security_support.operations``), so a new route is covered as soon as it exists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the tests' helpers module, importable without making tests a package
sys.path.insert(0, str(Path(__file__).parent))

from security_support import operations


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``bearer_operation``: each operation opened by a staff token; ``portal_operation``:
    each opened by the portal's session alone."""
    chosen = {
        "bearer_operation": [op for op in operations() if "bearerAuth" in op.security],
        "portal_operation": [
            op for op in operations() if op.security == ("portalSession",) and not op.optional
        ],
    }
    for name, ops in chosen.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, ops, ids=str)
