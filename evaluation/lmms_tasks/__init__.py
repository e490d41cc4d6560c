"""CrossOmni as lmms-eval tasks: the task folder for ``lmms_eval --include_path``, generated from the schema.

``crossomni/`` holds nine direction tasks ``crossomni_<task>`` (one per dataset config), the
groups ``crossomni_single`` and ``crossomni_cross`` (unweighted means of their task accuracies,
as the paper's Single and Cross) and ``crossomni`` (accuracy over all instances, the paper's
Overall), the shared ``_default_template_yaml`` and the hooks in ``utils.py``. The YAML files are
written from ``crossomni.TASK_TYPES`` by ``task_files`` (``python -m evaluation.lmms_tasks``
rewrites them; a test checks the shipped files equal its output).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crossomni import CROSS_TASKS, DEFAULT_CONFIG_NAME, SINGLE_TASKS, TASK_TYPES

TASKS_DIR = Path(__file__).resolve().parent / "crossomni"
TEMPLATE = "_default_template_yaml"  # no .yaml suffix: lmms-eval indexes every *.yaml as a task
DEFAULT_DATASET = "crossomni"  # ./crossomni, the folder `crossomni export` writes by default
GROUP = "crossomni"
TASK_PREFIX = "crossomni_"
_HEADER = "# Written by `python -m evaluation.lmms_tasks` from crossomni.py; edit the generator, not this file.\n"

_TEMPLATE_BODY = """\
dataset_path: {dataset_path}
test_split: test
output_type: generate_until
process_docs: !function utils.process_docs
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
process_results: !function utils.process_results
generation_kwargs:
  max_new_tokens: 64
  temperature: 0
  top_p: 1.0
  num_beams: 1
  do_sample: false
metric_list:
  - metric: acc
    aggregation: !function utils.accuracy
    higher_is_better: true
lmms_eval_specific_kwargs:
  default:
    prompting: default
    prompt_version: v2
metadata:
  version: 1.0
"""


def task_id(name: str) -> str:
    """lmms-eval task name of a CrossOmni task type, e.g. ``crossomni_audio_to_text``."""
    return TASK_PREFIX + name


def _group(name: str, alias: str, members: list[str], weight_by_size: bool) -> str:
    lines = [f"group: {name}", f'group_alias: "{alias}"', "task:"]
    lines += [f"  - {member}" for member in members]
    lines += [
        "aggregate_metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        f"    weight_by_size: {str(weight_by_size).lower()}",
        "metadata:",
        "  version: 1.0",
    ]
    return _HEADER + "\n".join(lines) + "\n"


def task_files(dataset_path: str = DEFAULT_DATASET) -> dict[str, str]:
    """File name → text of every YAML in the task folder, reading its data from ``dataset_path``."""
    files = {TEMPLATE: _HEADER + _TEMPLATE_BODY.format(dataset_path=dataset_path)}
    for task in TASK_TYPES:
        files[f"{task_id(task.name)}.yaml"] = (
            f'{_HEADER}task: {task_id(task.name)}\ntask_alias: "{task.short}"\n'
            f"dataset_name: {task.name}\ninclude: {TEMPLATE}\n"
        )
    single, cross = f"{GROUP}_single", f"{GROUP}_cross"
    files[f"{single}.yaml"] = _group(single, "Single (mean of 3 tasks)", [task_id(t) for t in SINGLE_TASKS], False)
    files[f"{cross}.yaml"] = _group(cross, "Cross (mean of 6 tasks)", [task_id(t) for t in CROSS_TASKS], False)
    files[f"{GROUP}.yaml"] = _group(GROUP, "Overall (all instances)", [single, cross], True)
    return files


def write_task_folder(out: str | Path, dataset_path: str = DEFAULT_DATASET) -> Path:
    """Write the task folder (YAMLs and ``utils.py``) into ``out``, reading its data from ``dataset_path``.

    ``dataset_path`` is a Hub dataset id (``ORG/crossomni``) or an exported folder (made absolute,
    so lmms-eval may run from any working directory).
    """
    out = Path(out)
    local = Path(dataset_path).expanduser()
    if local.is_dir():
        dataset_path = str(local.resolve())
    out.mkdir(parents=True, exist_ok=True)
    for name, text in task_files(dataset_path).items():
        (out / name).write_text(text, encoding="utf-8")
    if out.resolve() != TASKS_DIR:
        shutil.copyfile(TASKS_DIR / "utils.py", out / "utils.py")
    return out


def check_media(dataset: str) -> int:
    """Resolve every clip the tasks will read (the ``test`` split of every config) as ``process_docs`` will, under
    ``CROSSOMNI_MEDIA_ROOT``, before lmms-eval runs; return how many clips were checked.

    A missing or refused clip raises ``FileNotFoundError``: the first one's message and how many of the clips
    fail (lmms-eval itself prints a long traceback, writes no results and exits 0). Embedded clips need no root.
    """
    import datasets

    from evaluation.lmms_tasks.crossomni.utils import clip_media_path, media_root

    rows = datasets.load_dataset(dataset, DEFAULT_CONFIG_NAME, split="test", streaming=True)
    rows = rows.select_columns(["clip_id", "video", "audio"])
    rows = rows.cast_column("video", datasets.Video(decode=False)).cast_column("audio", datasets.Audio(decode=False))
    root = media_root()
    seen: set[tuple[str, str | None]] = set()
    failures: list[str] = []
    for row in rows:
        key = (row["clip_id"], row["video"].get("path"))
        if key in seen or row["video"].get("bytes"):
            seen.add(key)
            continue
        seen.add(key)
        try:
            clip_media_path(row["clip_id"], row["video"], row["audio"], root)
        except (FileNotFoundError, ValueError) as err:
            failures.append(str(err))
    if failures:
        raise FileNotFoundError(f"{failures[0]} ({len(failures)} of {len(seen)} clips cannot be read)")
    return len(seen)
