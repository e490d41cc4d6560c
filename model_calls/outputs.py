"""Output folders: a command writes only where it may, and deletes only what it wrote.

Every command that writes a folder (``export``, ``export-metric``, ``build``, ``eval``, ``media``,
``sample``, ``eval compare``, ``train``) goes through this module. A command writes into a folder
that is missing or empty, or that it wrote before: it leaves a marker file there (``MARKER``)
naming itself and, for a folder it replaces as a whole (an export), every file it wrote. Anything
else is refused with one line unless the user passes ``--overwrite``; even then a folder that is,
or contains, one of the command's inputs (the release, the TVQA root, the media root...), the
working directory, the home folder or ``/`` is refused. A folder replaced as a whole is refused on
those grounds even when the command wrote it.

- ``claim_output_dir``: for commands that add files to a folder and never delete any (build, eval...);
- ``check_output_file``: for a command's one-file report (``inspect --json``): a file is replaced only
  when the same command wrote it (its ``written_by`` key), or with ``--overwrite``;
- ``replace_output_dir``: a context manager for commands that write a whole new folder: the new
  contents are written into a new ``OUT.partial-XXXX`` and swapped in at the end (a failure leaves
  ``OUT`` as it was).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MARKER = ".crossomni-output.json"
MARKER_NOTE = "crossomni writes only into folders it made; this file says which command made this one"
MAX_MARKER_BYTES = 64 * 1024 * 1024
Protected = Mapping[str, "str | os.PathLike[str] | None"]


class OutputFolderError(ValueError):
    """A folder a command may not write into; the message names it and what to do instead."""


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` (None when it has none, or one that is not a marker: not a plain file,
    too large, not a JSON object naming a command)."""
    path = folder / MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MARKER_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("command"), str):
        return None
    return data


def write_marker(folder: Path, command: str, files: list[str] | None = None, partial: bool = False) -> None:
    """Say that ``command`` wrote ``folder`` (and, for a replaced folder, which ``files``)."""
    marker: dict[str, Any] = {"command": command, "note": MARKER_NOTE}
    if files is not None:
        marker["files"] = files
    if partial:
        marker["partial"] = True
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def written_files(folder: Path) -> list[str]:
    """Every file under ``folder`` except the marker, as sorted relative POSIX paths (links count as files)."""
    found = []
    for top, dirs, files in os.walk(folder):
        base = Path(top)
        linked = [d for d in dirs if (base / d).is_symlink()]  # os.walk does not descend into them
        for name in [*files, *linked]:
            relative = (base / name).relative_to(folder).as_posix()
            if relative != MARKER:
                found.append(relative)
    return sorted(found)


def _first_entry(folder: Path) -> str:
    names = sorted(entry.name for entry in os.scandir(folder) if entry.name != MARKER)
    return names[0] if names else MARKER


def _not_ours(path: Path, command: str, replace: bool) -> str | None:
    """Why ``command`` may not write into ``path`` without ``--overwrite`` (None: it may)."""
    if path.is_symlink():
        return "is a symbolic link"
    if not path.exists():
        return None
    if not path.is_dir():
        return "is a file, not a folder"
    if not any(os.scandir(path)):
        return None
    marker = read_marker(path)
    if marker is None:
        return f"holds files crossomni {command} did not write (e.g. {_first_entry(path)})"
    if marker["command"] != command or marker.get("partial"):
        return f"was written by crossomni {marker['command']}" + (" (unfinished)" if marker.get("partial") else "")
    if replace:
        listed = marker.get("files")
        listed = set(listed) if isinstance(listed, list) else set()
        extra = [name for name in written_files(path) if name not in listed]
        if extra:
            return f"holds files crossomni {command} did not write (e.g. {extra[0]})"
    return None


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _check_protected(path: Path, protected: Protected | None, option: str, why: str) -> None:
    target = path.resolve()
    inputs = {label: value for label, value in (protected or {}).items() if value}
    always = {"the working directory": Path.cwd(), "your home folder": Path.home(), "the filesystem root": Path("/")}
    for label, value in {**inputs, **always}.items():
        resolved = Path(value).expanduser().resolve()
        if _inside(resolved, target):
            relation = "is" if resolved == target else "contains"
            raise OutputFolderError(f"{option} {path}: refused{why}: it {relation} {label} ({value})")


def check_output_dir(
    path: str | os.PathLike[str],
    command: str,
    *,
    overwrite: bool = False,
    protected: Protected | None = None,
    option: str = "--out",
    replace: bool = False,
    flag: str | None = "--overwrite",
) -> Path:
    """Raise ``OutputFolderError`` unless ``command`` may write into ``path`` (see the module's rule);
    ``replace``: the command deletes the folder's old contents; ``option`` and ``flag`` are the command's
    spellings of the folder and of ``overwrite`` (the message names them; ``flag=None``: the command has
    none). Writes nothing; returns ``path``."""
    path = Path(path)
    reason = _not_ours(path, command, replace)
    if reason is None:
        if replace:  # the old contents are deleted: never an input's folder, even one this command wrote
            _check_protected(path, protected, option, "")
        return path
    if not replace and path.exists() and not path.is_dir():
        raise OutputFolderError(f"{option} {path} is a file, not a folder")
    if not overwrite:
        verb = "replace what is there" if replace else "write into it (its files are kept, same-named ones replaced)"
        how = f", or pass {flag} to {verb}" if flag else ""
        raise OutputFolderError(f"{option} {path} {reason}; choose a new or empty folder{how}")
    _check_protected(path, protected, option, f" even with {flag}")
    return path


def claim_output_dir(
    path: str | os.PathLike[str],
    command: str,
    *,
    overwrite: bool = False,
    protected: Protected | None = None,
    option: str = "--out",
    flag: str | None = "--overwrite",
) -> Path:
    """Check ``path`` for ``command`` (which adds files and never deletes any), create it and leave the marker."""
    path = check_output_dir(path, command, overwrite=overwrite, protected=protected, option=option, flag=flag)
    path.mkdir(parents=True, exist_ok=True)
    marker = read_marker(path)
    if marker is None or marker["command"] != command:
        write_marker(path, command)
    return path


def check_output_file(path: str | os.PathLike[str], command: str, *, overwrite: bool = False, option: str) -> Path:
    """Raise ``OutputFolderError`` unless ``command`` may write its JSON report to ``path``: a missing file, one
    whose ``written_by`` is this command, or any file with ``overwrite`` (never a folder). Writes nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputFolderError(f"{option} {path} is a folder, not a file")
    if not path.exists() or overwrite:
        return path
    try:
        ours = json.loads(path.read_bytes()[:MAX_MARKER_BYTES]).get("written_by") == written_by(command)
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise OutputFolderError(
            f"{option} {path} exists and crossomni {command} did not write it; choose a new file, or pass "
            "--overwrite to replace it"
        )
    return path


def written_by(command: str) -> str:
    """The ``written_by`` value of a report file ``command`` writes."""
    return f"crossomni {command}"


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@contextmanager
def replace_output_dir(
    path: str | os.PathLike[str],
    command: str,
    *,
    overwrite: bool = False,
    protected: Protected | None = None,
    option: str = "--out",
) -> Iterator[Path]:
    """Yield a new staging folder beside ``path`` (``OUT.partial-XXXX``, made by this call) to write the new
    ``path`` into; on success it replaces ``path`` (the marker lists its files), on failure it is removed and
    ``path`` is left as it was. No folder that was there before is ever taken as the staging folder: a
    ``OUT.partial`` of the user's is never touched, and one a killed run left stays until its owner removes it."""
    path = check_output_dir(path, command, overwrite=overwrite, protected=protected, option=option, replace=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{path.resolve().name}.partial-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would make the output private
    try:
        write_marker(staging, command, partial=True)
        yield staging
        write_marker(staging, command, files=written_files(staging))
        _remove(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
