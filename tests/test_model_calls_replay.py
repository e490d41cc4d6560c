"""The replay and recording backends, reply parsing, and the per-item completion log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.prompts import parse_reply
from builder.replies import VoiceReply
from model_calls import ModelRequest, get_backend
from model_calls.replay import RecordingBackend, ReplayBackend, alt_key
from model_calls.store import CompletionLog, iter_records


def request_with(path: Path, text: str = "listen") -> ModelRequest:
    return ModelRequest(
        model="omni",
        prompt_version="voice.v1",
        messages=(
            {"role": "user", "content": [{"type": "audio", "audio": str(path)}, {"type": "text", "text": text}]},
        ),
    )


def test_record_then_replay_by_key_and_by_media_name(tmp_path: Path) -> None:
    clip = tmp_path / "a" / "clip1" / "Rachel.wav"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"first encoding")
    scripted = get_backend("scripted")  # answers only sample clips: this request gets an error, which is recorded too

    class Echo:
        name, calls = "echo", 0

        def generate(self, requests):
            from model_calls import ModelResponse

            self.calls += 1
            return [
                ModelResponse(r.key(), r.model, text=f"reply to {r.messages[0]['content'][1]['text']}")
                for r in requests
            ]

    replies = tmp_path / "replies.jsonl"
    recorder = RecordingBackend(Echo(), replies)
    recorder.generate([request_with(clip), request_with(clip, "again")])
    recorder.close()
    assert len(list(iter_records(replies))) == 2
    replay = ReplayBackend(replies)
    assert [r.text for r in replay.generate([request_with(clip)])] == ["reply to listen"]
    # same file name, other bytes (another ffmpeg build): found through the alternative key
    moved = tmp_path / "b" / "clip1" / "Rachel.wav"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(b"second encoding")
    assert request_with(moved).key() != request_with(clip).key()
    assert alt_key(request_with(moved)) == alt_key(request_with(clip))
    assert replay.generate([request_with(moved)])[0].text == "reply to listen"
    # never seen: an error response, not an invented reply
    (missing,) = replay.generate([request_with(moved, "something else")])
    assert not missing.ok and "no recorded reply" in missing.error and replay.misses == 1
    assert replay.calls == 3
    # recording again merges with the file instead of replacing it
    again = RecordingBackend(Echo(), replies)
    again.generate([request_with(moved, "third")])
    again.close()
    assert len(list(iter_records(replies))) == 3
    assert scripted.generate([request_with(clip)])[0].error.startswith("scripted:")


def test_bad_replay_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"key": "k", "text": "x"}\nnot json\n')
    with pytest.raises(ValueError, match=r"r\.jsonl:2: not a replay record"):
        ReplayBackend(path)
    with pytest.raises(FileNotFoundError, match="record one with"):
        ReplayBackend(tmp_path / "none.jsonl")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (
            '{"smooth": false, "rough": false, "nasal": false, "high": true, "low": false, "happy": false, '
            '"angry": false, "calm": true}',
            True,
        ),
        (
            '<think>hmm</think>```json\n{"smooth": 0, "rough": 0, "nasal": 0, "high": 1, "low": 0, "happy": 0, '
            '"angry": 0, "calm": 0}\n```',
            True,
        ),
        ('{"smooth": false}', False),
        ("the voice is high", False),
        ("", False),
    ],
)
def test_replies_are_validated_against_their_schema(text: str, ok: bool) -> None:
    parsed, error = parse_reply(text, VoiceReply)
    assert (parsed is not None) == ok
    assert (error is None) == ok
    if not ok:
        assert error.startswith("unparseable reply")


def test_completion_log_drops_a_torn_item_and_keeps_finished_ones(tmp_path: Path) -> None:
    path = tmp_path / "stage.log.jsonl"
    log = CompletionLog(path)
    log.record("a", [{"x": 1}], [])
    log.record("b", [{"x": 2}, {"x": 3}], [{"reason": "r"}])
    log.close()
    with open(path, "a", encoding="utf-8") as handle:  # a run killed while writing item c
        handle.write(json.dumps({"item": "c", "out": {"x": 4}}) + "\n" + '{"item": "c", "do')
    resumed = CompletionLog(path)
    assert resumed.done == {"a", "b"}
    resumed.record("c", [{"x": 4}], [])
    resumed.close()
    entries = list(iter_records(path))
    assert [e["out"]["x"] for e in entries if "out" in e] == [1, 2, 3, 4]
    assert sum(1 for e in entries if e.get("done")) == 3
