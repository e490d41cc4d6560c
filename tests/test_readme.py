"""Every code block and command of README.md and the package READMEs runs as pasted.

The fast tests read every block: each one is run by the walk-through or excluded with a reason that the
block itself shows (a GPU, the Hub, a TVQA download, an install: the marker must be in it, so an offline
block cannot be waved through), every program a block starts is installed here, and every `crossomni ...`
command line, excluded ones too, parses against the real command-line definitions.

The walk-through (``-m readme``, a few minutes) runs them: in a temporary folder, after ``crossomni demo``
(what ``make demo`` runs once it has installed), every bash block with ``bash -e``, every Python block with
the venv's ``python``, doctest blocks with ``doctest``; a server command (``crossomni view``) until it
answers a request. Only the replacements in ``SUBSTITUTIONS`` are made, and each is one the README's own
text tells the user to make.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
READMES = ("README.md", "evaluation/README.md", "training/README.md", "builder/README.md")
METRIC_CARD = "evaluation/crossomni_acc/README.md"
BIN = Path(sys.executable).parent
RUN_LANGS = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}
TEXT_LANGS = {"text", "bibtex", "yaml", "json", "markdown"}
COMMANDS = {"crossomni", "python", "pip", "lmms-eval", "lmms_eval", "vllm", "accelerate", "ray", "export", "make"}
COMMANDS |= {"huggingface-cli", "hf", "ls", "mkdir", "cd"}
SHELL = {"export", "ls", "mkdir", "cd", "make"}  # builtins and system tools, not the venv's
NOT_INSTALLED_HERE = {"vllm"}  # GPU extras: the blocks that start them are excluded as gpu
SETUP = "crossomni demo"  # `make demo` without its install step (the venv is installed)

# Why a block cannot run here: each category names the markers one of which the block must contain.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "gpu": ("--backend vllm", "vllm serve", "accelerate launch", "'.[vllm", "--backend ray", "ray start"),
    "hub": ("Qwen/", "ORG/", "huggingface-cli download", "hf download"),
    "tvqa": ("/data/tvqa",),
    "install": ("pip install", "make demo"),
    "source-tree": ("python -m builder.sample.record",),
}
# (file, first line of the block) -> category: blocks that need what this machine has not.
EXCLUDED: dict[tuple[str, str], str] = {
    ("README.md", "make demo"): "install",
    ("README.md", "crossomni inspect --tvqa-root /data/tvqa"): "tvqa",
    ("README.md", "crossomni eval --model Qwen/Qwen2.5-Omni-7B --dataset crossomni --tvqa-root /data/tvqa"): "gpu",
    ("README.md", "pip install -e '.[lmms]' && pip install lmms-eval==0.7.3 --no-deps"): "install",
    ("README.md", "crossomni train sft  --config training/configs/sft_qwen2.5-omni-3b.yaml --tvqa_root /data/tvqa"): "tvqa",  # noqa: E501
    ("evaluation/README.md", "pip install -e '.[vllm]'"): "gpu",
    ("evaluation/README.md", "pip install -e '.[lmms]' && pip install lmms-eval==0.7.3 --no-deps"): "install",
    ("training/README.md", "# judge (separate GPUs; 80B MoE in bf16 ≈ 160 GB of weights → 4 × 80 GB, or FP8 on 2)"): "gpu",  # noqa: E501
    ("builder/README.md", "python -m builder.sample.record"): "source-tree",
    ("builder/README.md", "crossomni inspect --tvqa-root /data/tvqa"): "tvqa",
    ("builder/README.md", "crossomni build --tvqa-root /data/tvqa --out build/crossomni --backend vllm --qa llm"): "gpu",  # noqa: E501
    ("builder/README.md", "vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8001 &"): "gpu",
    ("builder/README.md", "ray start --head --port 6379"): "gpu",
    ("builder/README.md", "crossomni media --release build/crossomni/release --tvqa-root /data/tvqa --out /data/crossomni_media"): "tvqa",  # noqa: E501
}  # fmt: skip
# (file, text in a block, replacement, what the README says that tells the user to make it)
SUBSTITUTIONS: list[tuple[str, str, str, str]] = [
    ("README.md", "crossomni view runs/tiny --tvqa-root build/demo/tvqa", "crossomni view runs/tiny "
     "--tvqa-root build/demo/tvqa --port 0", "`--port N` if 8766 is taken"),
    (METRIC_CARD, "path/to/evaluation/crossomni_acc", str(REPO / "evaluation" / "crossomni_acc"), "path/to/"),
]  # fmt: skip
SERVERS = ("crossomni view", "crossomni review")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # 1-based line of the block's first line
    lang: str  # bash, python, doctest or text
    text: str

    @property
    def first(self) -> str:
        """The block's first line without its comment (the comment itself when the line is one)."""
        line = next(line for line in self.text.splitlines() if line.strip()).strip()
        return line if line.startswith("#") else re.sub(r"\s+#.*$", "", line).rstrip(" \\")

    @property
    def key(self) -> tuple[str, str]:
        return (self.file, self.first)


def _command_word(text: str) -> str | None:
    """The program a shell block starts with (after comments and VAR=$(...) assignments), or None."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split()
        while words and re.match(r"^[A-Za-z_]+=", words[0]):
            inner = re.match(r"^[A-Za-z_]+=\$\((\S+)", words[0])
            if inner:
                return inner.group(1)
            words = words[1:]
        return words[0] if words else None
    return None


def _classify(lang: str, text: str) -> str:
    if lang in RUN_LANGS:
        if RUN_LANGS[lang] == "python" and ">>> " in text:
            return "doctest"
        return RUN_LANGS[lang]
    if lang in TEXT_LANGS or lang:
        return "text"
    return "bash" if _command_word(text) in COMMANDS else "text"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def read_blocks(name: str) -> list[Block]:
    """Fenced blocks (```lang) and indented ones (4+ spaces after a blank line, also inside list items)."""
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if fence:
            indent, lang = len(fence.group(1)), fence.group(2)
            end = index + 1
            while not re.match(r"^\s*```\s*$", lines[end]):
                end += 1
            text = "\n".join(body[indent:] for body in lines[index + 1 : end])
            blocks.append(Block(name, index + 2, _classify(lang, text), text))
            index = end + 1
            continue
        previous_blank = index == 0 or not lines[index - 1].strip()
        indent = _indent(line)
        if previous_blank and line.strip() and indent >= 4 and not re.match(r"^\s*([-*]|\d+\.)\s", line):
            end = index
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= indent):
                end += 1
            while not lines[end - 1].strip():
                end -= 1
            text = "\n".join(body[indent:] for body in lines[index:end])
            blocks.append(Block(name, index + 1, _classify("", text), text))
            index = end
            continue
        index += 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for name in (*READMES, METRIC_CARD) for block in read_blocks(name)]


def runnable(blocks: list[Block]) -> list[Block]:
    return [block for block in blocks if block.lang != "text" and block.key not in EXCLUDED]


def logical_lines(text: str) -> list[str]:
    """Shell lines with their continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        code = re.sub(r"(^|\s)#.*$", "", line).strip()
        if code:
            out.append(code)
    return out


def crossomni_invocations(text: str) -> list[list[str]]:
    """The argument lists of every ``crossomni ...`` in a shell block, also inside ``$(...)`` and after ``&&``."""
    found = []
    for line in logical_lines(text):
        for segment in re.split(r"&&|\|\||;|\||\$\(|\)", line):
            words = shlex.split(segment.strip()) if segment.strip() else []
            if words and words[0] == "crossomni":
                found.append(words[1:])
    return found


# ------------------------------------------------------------------------------------------------ fast checks


def test_every_block_runs_or_is_excluded_for_a_reason_it_shows() -> None:
    blocks = all_blocks()
    keys = {block.key for block in blocks}
    stale = [key for key in EXCLUDED if key not in keys]
    assert not stale, f"exclusions that match no block (a README changed): {stale}"
    for block in blocks:
        if block.key not in EXCLUDED:
            continue
        assert block.lang != "text", f"{block.file}:{block.line} is not run anyway: drop its exclusion"
        markers = CATEGORIES[EXCLUDED[block.key]]
        assert any(marker in block.text for marker in markers), (
            f"{block.file}:{block.line} is excluded as {EXCLUDED[block.key]!r} but shows none of {markers}: "
            "an offline block runs in the walk-through"
        )
    kinds = {block.lang for block in runnable(blocks)}
    assert {"bash", "python", "doctest"} <= kinds
    for name, old, _new, says in SUBSTITUTIONS:
        assert any(old in block.text for block in read_blocks(name)), (name, old)
        assert says in (REPO / name).read_text(encoding="utf-8"), f"{name} never tells the user: {says!r}"


def test_every_program_a_block_starts_is_installed() -> None:
    for block in all_blocks():
        if block.lang != "bash":
            continue
        for line in logical_lines(block.text):
            for segment in re.split(r"&&|\|\||;|\||\$\(|\)", line):
                words = segment.strip().split()
                while words and re.match(r"^[A-Za-z_]+=", words[0]):
                    words = words[1:]
                if not words or words[0] in SHELL | NOT_INSTALLED_HERE or not re.match(r"^[\w.-]+$", words[0]):
                    continue
                assert (BIN / words[0]).exists() or shutil.which(words[0]), (
                    f"{block.file}:{block.line}: `{words[0]}` is not an installed program"
                )


def _parse(command, args: list[str], name: str) -> None:
    """Parse ``args`` as the real command line would (options, arguments, subcommands), running nothing."""
    context = command.make_context(name, list(args))
    rest = [*getattr(context, "_protected_args", []), *context.args]
    is_group = hasattr(command, "get_command")
    if is_group and rest and (rest[0] in command.list_commands(context) or not command.invoke_without_command):
        sub = command.get_command(context, rest[0])
        assert sub is not None, f"no command {rest[0]!r} in `{name}`"
        _parse(sub, rest[1:], f"{name} {rest[0]}")


def test_every_crossomni_command_line_parses() -> None:
    """Excluded blocks too: a GPU recipe with a wrong option is as broken as an offline one."""
    import typer

    from crossomni_cli import app

    root = typer.main.get_command(app)
    checked = 0
    for block in all_blocks():
        if block.lang != "bash":
            continue
        for args in crossomni_invocations(block.text):
            try:
                _parse(root, args, "crossomni")
            except Exception as err:  # a usage error of any kind is the finding
                pytest.fail(f"{block.file}:{block.line}: `crossomni {' '.join(args)}` does not parse: {err}")
            checked += 1
    assert checked > 20


# ------------------------------------------------------------------------------------------------ walk-through


def _environment(work: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CROSSOMNI_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),  # the checkout, as the editable install puts it on the path
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(work / ".hf"),
        XDG_CACHE_HOME=str(work / ".cache"),
        MPLBACKEND="Agg",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def _substituted(block: Block) -> str:
    text = block.text
    for name, old, new, _ in SUBSTITUTIONS:
        if name == block.file:
            text = text.replace(old, new)
    return text


def _serve(command: str, work: Path, env: dict[str, str]) -> str:
    """Start a server command, fetch the page it announces, stop it with Ctrl-C; returns its output."""
    child = subprocess.Popen(
        ["bash", "-c", command], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    try:
        deadline = time.monotonic() + 180
        url = None
        while url is None and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"http://[\w.:-]+/\S*", line)
            url = match.group(0) if match else None
        assert url, f"`{command}` announced no URL:\n{''.join(lines)[-3000:]}"
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
    return "".join(lines)


def _run(block: Block, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    text = _substituted(block)
    if block.lang == "bash":
        servers = [line for line in logical_lines(text) if line.startswith(SERVERS)]
        if servers:
            assert len(logical_lines(text)) == 1, f"{block.file}:{block.line}: a server shares its block"
            output = _serve(servers[0], work, env)
            return subprocess.CompletedProcess(servers[0], 0, output, "")
        script = work / ".block.sh"
        script.write_text("set -eo pipefail\n" + text + "\n", encoding="utf-8")
        command = ["bash", str(script)]
    elif block.lang == "python":
        script = work / ".block.py"
        script.write_text(text + "\n", encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        script = work / ".block.txt"
        script.write_text(text + "\n", encoding="utf-8")
        command = [sys.executable, "-m", "doctest", str(script)]
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.readme
def test_walk_through_every_block_as_pasted(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    timings = []
    started = time.perf_counter()
    setup = subprocess.run(SETUP, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stderr[-3000:]
    timings.append((SETUP, time.perf_counter() - started))
    for block in runnable(all_blocks()):
        began = time.perf_counter()
        result = _run(block, tmp_path, env)
        timings.append((f"{block.file}:{block.line} {block.first[:60]}", time.perf_counter() - began))
        assert result.returncode == 0, (
            f"{block.file}:{block.line} failed (exit {result.returncode}):\n{block.text}\n--- output:\n"
            f"{(result.stdout + result.stderr)[-4000:]}"
        )
    print("\nREADME walk-through, seconds per block:")
    for name, seconds in timings:
        print(f"{seconds:7.1f}  {name}")
    print(f"{time.perf_counter() - started:7.1f}  total")
