"""The import arrows DESIGN.md forbids never appear (read with ``ast``, module level and inside functions)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# part -> the top-level module or package that is it
PARTS = {
    "crossomni": "schema",
    "crossomni_cli": "cli",
    "model_calls": "model_calls",
    "builder": "builder",
    "evaluation": "evaluation",
    "training": "training",
    "model_cards": "model_cards",
}
FORBIDDEN = (
    {("schema", other) for other in PARTS.values() if other != "schema"}
    | {
        ("model_calls", "builder"),
        ("model_calls", "evaluation"),
        ("model_calls", "training"),
        ("model_calls", "model_cards"),
        ("model_cards", "builder"),
        ("model_cards", "training"),
        ("model_cards", "evaluation"),
        ("evaluation", "training"),
        ("builder", "training"),
    }
    | {(part, "cli") for part in PARTS.values() if part != "cli"}
)


def _source_files() -> list[Path]:
    files = [ROOT / "crossomni.py", ROOT / "crossomni_cli.py"]
    for package in ("model_calls", "builder", "evaluation", "training", "model_cards"):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def part_of(module: str) -> str | None:
    return PARTS.get(module.split(".")[0])


def arrows() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> the files that make that arrow."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in _source_files():
        source = part_of(_module_name(path))
        for module in imported_modules(path):
            target = part_of(module)
            if target and target != source:
                found.setdefault((source, target), []).append(f"{path.relative_to(ROOT)} imports {module}")
    return found


def test_the_reader_sees_relative_and_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "mod.py"
    module.write_text("from . import sibling\nfrom .other import x\n\ndef f():\n    import training.sft\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert imported_modules(module) == {"pkg", "pkg.other", "training.sft"}
    finally:
        ROOT = saved


@pytest.mark.parametrize("arrow", sorted(FORBIDDEN), ids="->".join)
def test_no_forbidden_arrow(arrow):
    offenders = arrows().get(arrow, [])
    assert not offenders, f"{arrow[0]} must never import {arrow[1]}: " + "; ".join(offenders)


def test_no_circle_between_packages():
    graph = arrows()
    parts = sorted(set(PARTS.values()))
    reach = {p: {q for (a, q) in graph if a == p} for p in parts}
    for _ in parts:  # transitive closure
        for p in parts:
            reach[p] |= set(itertools.chain.from_iterable(reach[q] for q in reach[p]))
    circles = [p for p in parts if p in reach[p]]
    assert not circles, f"import circle through {circles}: {sorted(graph)}"


def splitlines_of_a_file(path: Path) -> list[int]:
    """Lines where a file's whole text is split with ``str.splitlines`` (``p.read_text().splitlines()``).

    JSON leaves U+2028, U+2029 and U+0085 unescaped and ``splitlines`` breaks at them: a JSONL reader
    that does this cuts a record in two (split on ``\\n``, or iterate the open file, instead).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "splitlines"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Attribute)
        and node.func.value.func.attr in ("read_text", "read_bytes", "read")
    ]


def test_no_file_is_split_with_splitlines(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("lines = path.read_text().splitlines()\nok = path.read_text().split('\\n')\n")
    assert splitlines_of_a_file(probe) == [1]  # the check can fail
    files = [*_source_files(), *sorted((ROOT / "tests" / "helpers").rglob("*.py"))]
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in files for n in splitlines_of_a_file(p)]
    assert not offenders, "split on '\\n' (or iterate the file), not splitlines: " + ", ".join(offenders)
