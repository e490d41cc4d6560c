"""No secret a user puts in a setting is ever written: build, release, report, export card, eval run, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from crossomni_cli import app
from model_calls.redaction import REDACTED, is_secret_key, redact, redact_text

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


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("http://alice:pw0@host:8000/v1", "http://<redacted>@host:8000/v1"),
        ("https://tok0@api.example/v1?model=m&api_key=k0#top", "https://<redacted>@api.example/v1?model=m&api_key=<redacted>#top"),
        ("s3://bucket/x?X-Amz-Signature=s0&X-Amz-Credential=c0&n=1", "s3://bucket/x?X-Amz-Signature=<redacted>&X-Amz-Credential=<redacted>&n=1"),
        (
            "connect to http://u:p%40w@h failed: Authorization: Bearer t0ken123",
            "connect to http://<redacted>@h failed: Authorization: Bearer <redacted>",
        ),
        ("{'api_key': 'sk-1', 'max_tokens': 8}", "{'api_key': '<redacted>', 'max_tokens': 8}"),
        ("https://medium.com/@user and max_tokens=8, a=b", "https://medium.com/@user and max_tokens=8, a=b"),
    ],
)  # fmt: skip
def test_credentials_in_text_are_redacted_and_the_rest_kept(text, kept):
    assert redact_text(text) == kept
    assert redact({"base_url": text, "list": [text]}) == {"base_url": kept, "list": [kept]}


def test_planted_secrets_reach_no_output_file(tmp_path, caplog):
    secrets = [f"SeCrEt{i}-0a9f" for i in range(12)]
    models = yaml.safe_load((REPO / "builder" / "models.yaml").read_text())
    for role in models["roles"].values():
        role["backend_options"] = {
            "api_key": secrets[0],
            "headers": {"Authorization": f"Bearer {secrets[1]}"},
            "extra": {"db": {"Password": secrets[2]}},
            # a password in the URL and a key in its query: what -o/--models users write for a served model
            "base_url": f"http://alice:{secrets[8]}@models.internal:8000/v1?api_key={secrets[9]}",
        }
    models_path = tmp_path / "models.yaml"
    models_path.write_text(yaml.safe_dump(models))
    out = tmp_path / "build"
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    build_args = ["build", "--sample", "--out", str(out), "--no-progress", "--models", str(models_path)]
    build_args += ["-o", f"api_key={secrets[3]}", "-o", f"token={secrets[4]}"]
    build_args += ["-o", f"base_url=http://bob:{secrets[10]}@gpu-node:8000/v1"]
    built = runner.invoke(app, build_args)
    assert built.exit_code == 0, built.output
    written = json.loads((out / "release" / "release.json").read_text())
    assert written["build"]["models"]["text"]["backend_options"]["api_key"] == REDACTED  # kept as a key
    url = written["build"]["models"]["text"]["backend_options"]["base_url"]
    assert url == f"http://{REDACTED}@models.internal:8000/v1?api_key={REDACTED}"  # the server is still named

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
        f"base_url=https://carol:{secrets[11]}@serve.internal/v1",
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


@pytest.mark.slow
def test_planted_secrets_reach_no_file_of_a_training_run(
    tiny_omni_dir, sample_tvqa_root, tmp_path, monkeypatch, caplog
):
    """A tiny SFT run with a checkpoint: a Hub token (--hub_token and HF_TOKEN) and a URL password in an argument
    reach none of the files it writes (adapter, card, inputs record, trainer state, every training_args.bin)."""
    import logging

    from tests.helpers.tiny_omni import TINY_TRAINING_ARGS
    from training.sft import main, parse

    planted = ["hf_PlAnTeDhub0a9f", "hf_PlAnTeDenv0a9f", "PlAnTeDurl0a9f"]
    monkeypatch.setenv("HF_TOKEN", planted[1])
    out = tmp_path / "sft"
    args = [
        "--model_name_or_path", str(tiny_omni_dir),
        "--release_dir", str(REPO / "builder" / "sample" / "release"),
        "--tvqa_root", str(sample_tvqa_root),
        "--data_cache_dir", str(tmp_path / "cache"),
        "--output_dir", str(out),
        "--use_peft", "--lora_r", "4", "--lora_alpha", "8",
        "--max_steps", "1", "--per_device_train_batch_size", "1",
        *TINY_TRAINING_ARGS,
        "--save_strategy", "steps", "--save_steps", "1",
        "--hub_token", planted[0],
        "--run_name", f"https://ci:{planted[2]}@tracker.internal/run",
    ]  # fmt: skip
    caplog.set_level(logging.DEBUG)
    folder = main(*parse(args))
    written = [path for path in folder.rglob("*") if path.is_file()]
    names = {path.relative_to(folder).as_posix() for path in written}
    assert {"README.md", "crossomni_inputs.json", "training_args.bin", "checkpoint-1/training_args.bin"} <= names
    leaks = [(path.name, s) for path in written for s in planted if s.encode() in path.read_bytes()]
    assert not leaks
    assert not [s for s in planted if s in caplog.text]
