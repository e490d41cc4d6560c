"""Files the stages read and write: streaming JSONL reads, atomic writes, per-item completion logs, YAML."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader parses the shipped specs and configs ~10x faster; the pure-Python one is the fallback.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Nodes that aliases may add to a document when expanded (a 324-byte "billion laughs" expands to ~10**9).
MAX_ALIAS_NODES = 100_000


class YamlError(ValueError):
    """A YAML text that is not valid, or whose aliases expand too far or into themselves (names source and line)."""


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check_aliases(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases make it recursive or expand it by more than ``MAX_ALIAS_NODES`` nodes."""
    sizes: dict[int, int] = {}  # expanded node count of each node seen
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] - len(sizes) > MAX_ALIAS_NODES:
                raise YamlError(
                    f"{source}:{_line(node)}: YAML aliases expand this document past {MAX_ALIAS_NODES} "
                    "nodes; write the values out instead"
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlError(f"{source}:{_line(node)}: a YAML anchor refers to itself (a recursive alias)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, source: str = "YAML") -> Any:
    """``yaml.safe_load`` through libyaml when it is there (same documents, same safe types), refusing
    aliases that recurse or expand the document past ``MAX_ALIAS_NODES`` nodes. A bad text raises
    ``YamlError`` (a ``ValueError``) naming ``source`` and the line."""
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:  # no anchor, no alias: nothing to check
            _check_aliases(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = " ".join(str(err.problem or err.context or "a syntax error").split())
        raise YamlError(f"{where}: not valid YAML ({problem[:200]})") from None
    except yaml.YAMLError as err:
        raise YamlError(f"{source}: not valid YAML ({' '.join(str(err).split())[:200]})") from None
    finally:
        loader.dispose()


def dumps(record: dict[str, Any]) -> str:
    """One canonical JSONL line (sorted keys keep reruns byte-identical)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the records of a JSONL file; a bad line raises with file and line number."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from None


def write_atomic(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to ``path`` through a temporary file and ``os.replace``; returns the line count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return count


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, [json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"])


class CompletionLog:
    """Append-only log of finished items for one stage.

    Each finished item appends its output and reject lines followed by a ``done`` marker, in one
    write handed to the OS at once (a killed process loses nothing recorded); ``sync`` fsyncs what was
    recorded since the last one — the stage runner calls it once per batch, and the log itself every
    ``sync_every`` items and on ``close``, so a crash of the machine loses at most that much, never a
    half item. On reopening, lines of an item without its marker (a run killed mid-write) are
    discarded, so a resumed stage neither loses nor duplicates an item.
    """

    def __init__(self, path: Path, sync_every: int = 64) -> None:
        self.path = path
        self.sync_every = sync_every
        self.unsynced = 0
        self.done: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._handle = open(self.path, "a", encoding="utf-8")

    def _recover(self) -> None:
        kept: list[str] = []
        pending: list[str] = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # torn last line
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    break
                pending.append(line)
                if entry.get("done"):
                    self.done.add(entry["item"])
                    kept.extend(pending)
                    pending = []
        if pending or sum(1 for _ in open(self.path, encoding="utf-8")) != len(kept):
            write_atomic(self.path, kept)

    def record(self, item: str, outputs: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> None:
        lines = [dumps({"item": item, "out": record}) for record in outputs]
        lines += [dumps({"item": item, "reject": record}) for record in rejects]
        lines.append(dumps({"item": item, "done": True}))
        self._handle.write("".join(lines))
        self._handle.flush()
        self.done.add(item)
        self.unsynced += 1
        if self.unsynced >= self.sync_every:
            self.sync()

    def sync(self) -> None:
        """fsync the items recorded since the last sync (none: nothing to do)."""
        if self.unsynced:
            os.fsync(self._handle.fileno())
            self.unsynced = 0

    def close(self) -> None:
        if not self._handle.closed:
            self.sync()
            self._handle.close()

    def entries(self) -> Iterator[dict[str, Any]]:
        yield from iter_records(self.path)
