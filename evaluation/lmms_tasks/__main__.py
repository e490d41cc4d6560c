"""``python -m evaluation.lmms_tasks``: rewrite the shipped task YAMLs from ``crossomni.py``."""

from evaluation.lmms_tasks import TASKS_DIR, write_task_folder

if __name__ == "__main__":
    print(write_task_folder(TASKS_DIR))
