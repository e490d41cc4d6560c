"""Run the ``crossomni`` command in-process the way its console script runs it.

``typer.testing.CliRunner().invoke(app, ...)`` calls the click command underneath, so an error with a
known cause comes back as ``result.exception`` instead of the one ``error:`` line a user sees.
``invoke`` goes through ``CrossOmniApp.__call__`` (what ``crossomni`` runs): the result's output is
what the terminal shows and its exit code the shell's; any other exception (a bug) propagates.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from typer.testing import CliRunner, Result

import crossomni_cli


def invoke(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
    """``crossomni ARGS`` in-process, as the console script runs it."""
    runner = CliRunner()
    code = 0
    with runner.isolation(env=env) as (stdout, stderr, output):
        try:
            crossomni_cli.app(args=list(args), prog_name="crossomni")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            captured = stdout.getvalue(), stderr.getvalue(), output.getvalue()
    return Result(runner, *captured, None, code, None)
