"""Fixtures of the campaigns service's integration tests: their helpers module."""

import sys
from pathlib import Path

# the tests' helpers module, importable without making tests a package
sys.path.insert(0, str(Path(__file__).parent))
