"""Tools some tests need that a plain ``pip install -e .`` lacks (Chromium, playwright, Ray).

Where one is missing the test is skipped, with how to install it, except in CI (``CI`` set, as
``.ci/run`` is run): ``make test`` installs all of them there, so a missing one is a broken install
step and fails the run instead of hiding as a skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Skip for ``reason`` (also from module level); in CI, fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — in CI `make test` installs it, so an install step is missing", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def import_or_skip(module: str, reason: str) -> ModuleType:
    """The module, or ``missing(reason)`` when it cannot be imported."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(reason)
