"""A missing optional tool skips a test on a developer machine and fails it in CI."""

import pytest

from tests.helpers.optional import import_or_skip, missing


def test_a_missing_tool_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no such tool"):
        missing("no such tool")
    with pytest.raises(pytest.skip.Exception, match="install it"):
        import_or_skip("crossomni_no_such_module", "install it")
    assert import_or_skip("json", "the standard library").dumps([]) == "[]"


def test_a_missing_tool_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="an install step is missing"):
        import_or_skip("crossomni_no_such_module", "install it")
