"""No secret a user puts in a setting is ever written: build, release, report, export card, eval run, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crossomni_cli import app
from model_calls.redaction import REDACTED, is_secret_key, redact

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "key", ["api_key", "API_KEY", "x-api-key", "apiKey", "token", "hf_token", "Authorization", "headers", "password"]
)
def test_secret_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "max_new_tokens", "base_url", "model", "tensor_parallel_size", "path"])
def test_ordinary_keys_are_kept(key):
    assert not is_secret_key(key)


def test_redact_reaches_every_depth_and_keeps_the_rest():
    settings = {"base_url": "http://h", "extra": [{"Password": "p"}, ({"inner": {"TOKEN": "t"}},)], "max_tokens": 8}
    assert redact(settings) == {
        "base_url": "http://h",
        "extra": [{"Password": REDACTED}, ({"inner": {"TOKEN": REDACTED}},)],
        "max_tokens": 8,
    }
    assert settings["extra"][0]["Password"] == "p"  # the input is not changed


def _every_file_bytes(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_planted_secrets_reach_no_output_file(tmp_path, caplog):
    secrets = [f"SeCrEt{i}-0a9f" for i in range(8)]
    models = yaml.safe_load((REPO / "builder" / "models.yaml").read_text())
    for role in models["roles"].values():
        role["backend_options"] = {
            "api_key": secrets[0],
            "headers": {"Authorization": f"Bearer {secrets[1]}"},
            "extra": {"db": {"Password": secrets[2]}},
        }
    models_path = tmp_path / "models.yaml"
    models_path.write_text(yaml.safe_dump(models))
    out = tmp_path / "build"
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    build_args = ["build", "--sample", "--out", str(out), "--no-progress", "--models", str(models_path)]
    build_args += ["-o", f"api_key={secrets[3]}", "-o", f"token={secrets[4]}"]
    built = runner.invoke(app, build_args)
    assert built.exit_code == 0, built.output
    written = json.loads((out / "release" / "release.json").read_text())
    assert written["build"]["models"]["text"]["backend_options"]["api_key"] == REDACTED  # kept as a key

    export = tmp_path / "export"
    exported = runner.invoke(
        app, ["export", str(out / "release"), "--out", str(export), "--tvqa-root", str(out / "sample_tvqa")]
    )
    assert exported.exit_code == 0, exported.output

    replies = tmp_path / "none.jsonl"
    replies.write_text("")
    run = tmp_path / "run"
    eval_args = ["eval", "--model", "tiny", "--backend", "replay", "--dataset", str(export), "--out", str(run)]
    eval_args += ["--tvqa-root", str(out / "sample_tvqa"), "--quiet", "--backend-option", f"path={replies}"]
    for option in (
        f"api_key={secrets[5]}",
        f'headers={{"Authorization": "Bearer {secrets[6]}"}}',
        f"password={secrets[7]}",
    ):
        eval_args += ["--backend-option", option]
    evaluated = runner.invoke(app, eval_args)
    assert (run / "run.json").is_file(), evaluated.output

    files = _every_file_bytes(tmp_path)
    assert out / "build.json" in files and out / "report.json" in files and export / "README.md" in files
    leaks = [(path, s) for path, data in files.items() for s in secrets if s.encode() in data and path != models_path]
    assert not leaks
    logs = built.output + exported.output + evaluated.output + caplog.text
    assert not [s for s in secrets if s in logs]
