"""The operations of the whole API's OpenAPI document, known when the tests are collected
(before any server runs): the document assembled in-process, the way the gateway
assembles it from the services' own documents (``crm_gateway.openapi.assemble``);
``test_access.py`` checks that the gateway serves exactly these operations."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from crm_dev.stack import IMPLEMENTED
from crm_gateway.openapi import METHODS, assemble


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: tuple[str, ...]
    """The schemes that open it (empty: anyone may call it)."""
    optional: bool
    """Whether it answers without a credential too."""

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def url(self, ident: str) -> str:
        """The path with every parameter filled in with ``ident``."""
        parts = [
            ident if p.startswith("{") and p.endswith("}") else p for p in self.path.split("/")
        ]
        return "/".join(parts)


@cache
def document() -> dict[str, Any]:
    """The whole API's document as the gateway assembles it, built from the apps."""
    documents = {
        name: importlib.import_module(f"crm_{name}.main").create_app().openapi()
        for name in IMPLEMENTED
    }
    return assemble(documents)


@cache
def operations() -> list[Operation]:
    found = []
    for path, item in document()["paths"].items():
        for method in METHODS:
            if method in item:
                security = item[method]["security"]
                schemes = tuple(sorted({name for requirement in security for name in requirement}))
                found.append(Operation(method, path, schemes, {} in security or not security))
    return found
