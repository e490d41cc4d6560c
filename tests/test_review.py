"""The review log, the page server (containment, Range, JSON API) and export honouring the review."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import crossomni
from builder.export import export_release
from builder.review.app import ReviewApp
from builder.review.decisions import append_decision, read_decisions, rejected_ids, review_path, review_summary
from crossomni import ReleaseError
from evaluation.web.server import PageServer, parse_range

SAMPLE_RELEASE = Path(__file__).resolve().parents[1] / "builder" / "sample" / "release"
# a test-split clip of the hand-checked sample release and two of its instances (export reads the test split)
_FIRST_TEST = json.loads((SAMPLE_RELEASE / "test.jsonl").read_text().splitlines()[0])
CLIP = f"videos/{_FIRST_TEST['clip_id']}.mp4"
AUDIO_ID = f"{_FIRST_TEST['clip_id']}-audio"
VISION_ID = f"{_FIRST_TEST['clip_id']}-vision"


@pytest.fixture()
def release(sample_release: Path, tmp_path: Path) -> Path:
    """A writable copy of the sample release (review.jsonl goes into the release folder)."""
    return Path(shutil.copytree(sample_release, tmp_path / "release"))


@pytest.fixture()
def server(release: Path, sample_tvqa_root: Path) -> Iterator[PageServer]:
    page = PageServer(ReviewApp(release, sample_tvqa_root))
    thread = threading.Thread(target=page.serve_forever, daemon=True)
    thread.start()
    yield page
    page.shutdown()
    page.server_close()


def request(
    server: PageServer, path: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (the path is sent exactly as given: no client-side normalisation)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def post(server: PageServer, name: str, body: dict) -> tuple[int, dict]:
    own = f"http://127.0.0.1:{server.server_address[1]}"  # the page's own origin: a POST from elsewhere is refused
    headers = {"Content-Type": "application/json", "Origin": own}
    status, _, payload = request(server, f"/api/{name}", "POST", json.dumps(body).encode(), headers)
    return status, json.loads(payload)


# --- review.jsonl


def test_decisions_are_appended_and_the_last_one_wins(release: Path) -> None:
    append_decision(release, AUDIO_ID, "reject", "  two   voices sound high ")
    append_decision(release, VISION_ID, "accept")
    append_decision(release, AUDIO_ID, "accept")  # changed their mind
    lines = review_path(release).read_text().splitlines()
    assert len(lines) == 3  # append-only: the history is kept
    assert json.loads(lines[0])["reason"] == "two voices sound high"
    decisions = read_decisions(release)
    assert {i: d.decision for i, d in decisions.items()} == {AUDIO_ID: "accept", VISION_ID: "accept"}
    assert rejected_ids(release) == set()


def test_a_torn_last_line_is_ignored_and_the_next_decision_starts_a_fresh_line(release: Path) -> None:
    append_decision(release, AUDIO_ID, "reject", "wrong speaker")
    with open(review_path(release), "a", encoding="utf-8") as handle:
        handle.write('{"id": "' + VISION_ID[:-3])  # a crash mid-write
    assert set(read_decisions(release)) == {AUDIO_ID}
    append_decision(release, VISION_ID, "accept")
    assert set(read_decisions(release)) == {AUDIO_ID, VISION_ID}


def test_a_bad_line_in_the_middle_names_file_and_line(release: Path) -> None:
    review_path(release).write_text('{"id": "x", "decision": "accept", "reviewed_at": "t"}\nnot json\n{}\n')
    with pytest.raises(ValueError, match=r"review\.jsonl:2: not valid JSON"):
        read_decisions(release)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": ["a", "b"], "decision": "reject", "reviewed_at": "t"}, "id: expected a string, got list"),
        ({"id": {"a": 1}, "decision": "reject", "reviewed_at": "t"}, "id: expected a string, got dict"),
        ({"id": 7, "decision": "reject", "reviewed_at": "t"}, "id: expected a string, got int"),
        ({"id": "\u200b", "decision": "reject", "reviewed_at": "t"}, "id: must be a non-empty string"),
        ({"id": "x", "decision": ["reject"], "reviewed_at": "t"}, "decision: expected a string"),
        ({"id": "x", "decision": "maybe", "reviewed_at": "t"}, "decision: must be one of"),
        ({"id": "x", "decision": "reject", "reason": None, "reviewed_at": "t"}, "reason: expected a string"),
        ({"id": "x", "decision": "reject"}, "missing field 'reviewed_at'"),
        ({"id": "x\ud800", "decision": "reject", "reviewed_at": "t"}, "id: contains a lone surrogate U+D800"),
        (["x", "reject"], "expected a JSON object, got list"),
    ],
)
def test_a_bad_review_record_names_its_field_wherever_it_is_read(release: Path, record, message) -> None:
    """The review app, the export and the datasets builder all read review.jsonl through one reader."""
    good = {"id": AUDIO_ID, "decision": "accept", "reviewed_at": "t"}
    review_path(release).write_text(json.dumps(record) + "\n" + json.dumps(good) + "\n")
    where = re.escape("review.jsonl:1: ") + ".*" + re.escape(message)
    for read in (read_decisions, crossomni.rejected_ids, crossomni.validate_release):
        with pytest.raises(crossomni.ReleaseError, match=where):
            read(release)


def test_a_rejection_needs_a_reason(release: Path) -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        append_decision(release, AUDIO_ID, "reject", "   ")
    assert not review_path(release).exists()


def test_export_leaves_rejected_instances_out_and_the_card_counts_the_review(release: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    assert review_summary(release) is None  # no review: the card says nothing about one
    plain = export_release(release, tmp_path / "plain")
    assert "Human review" not in (tmp_path / "plain" / "README.md").read_text()
    append_decision(release, AUDIO_ID, "reject", "two speakers have high voices")
    append_decision(release, VISION_ID, "accept")
    summary = export_release(release, tmp_path / "reviewed")
    assert sum(summary.counts["test"].values()) == sum(plain.counts["test"].values()) - 1
    assert summary.counts["test"]["audio"] == plain.counts["test"]["audio"] - 1
    ids = set()
    for path in summary.files["all"]["test"]:
        ids |= set(pq.read_table(tmp_path / "reviewed" / path, columns=["id"]).column("id").to_pylist())
    assert AUDIO_ID not in ids and VISION_ID in ids and len(ids) == 17
    card = (tmp_path / "reviewed" / "README.md").read_text()
    assert "| `audio` | 4 | 1 | 1 |" in card  # 2 train + 2 test audio instances, one reviewed, one rejected
    assert "| `vision` | 4 | 1 | 0 |" in card
    assert "| **all** | **36** | **2** | **1** |" in card
    # coverage as a fraction: 2 of 36 reviewed is not "checked by a person"
    assert "**2 of 36 instances (5.6%) were\nchecked by a person**" in card and "the other 34 were not" in card


# --- the server


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=50-500", 100) == (50, 99)
    assert parse_range("bytes=0-1,5-6", 100) is None  # multi-range: the whole file
    for unsatisfiable in ("bytes=100-", "bytes=5-2", "bytes=-0"):
        with pytest.raises(ValueError):
            parse_range(unsatisfiable, 100)


def test_media_are_served_with_ranges(server: PageServer, sample_tvqa_root: Path) -> None:
    data = (sample_tvqa_root / CLIP).read_bytes()
    status, headers, body = request(server, f"/files/media/{CLIP}")
    assert status == 200 and body == data
    assert headers["accept-ranges"] == "bytes" and headers["content-type"] == "video/mp4"
    status, headers, body = request(server, f"/files/media/{CLIP}", headers={"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert headers["content-range"] == f"bytes 100-199/{len(data)}"
    status, _, body = request(server, f"/files/media/{CLIP}", headers={"Range": "bytes=-64"})
    assert status == 206 and body == data[-64:]
    status, headers, _ = request(server, f"/files/media/{CLIP}", headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize(
    "path",
    [
        "/files/media/../release/release.json",
        "/files/media/videos/../../release/clips.jsonl",
        "/files/media/%2e%2e/%2e%2e/etc/passwd",
        "/files/media//etc/passwd",
        "/files/media/videos",  # a folder: never listed
        "/files/media/videos/",
        "/files/media/",
        "/files/other/videos/x.mp4",
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/etc/passwd",
    ],
)
def test_nothing_outside_the_roots_is_served(server: PageServer, path: str) -> None:
    status, _, body = request(server, path)
    assert status == 404, (path, body[:80])


def test_a_symlink_out_of_the_root_is_refused(server: PageServer, sample_tvqa_root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    link = sample_tvqa_root / "videos" / "escape.txt"
    link.symlink_to(secret)
    try:
        assert request(server, "/files/media/videos/escape.txt")[0] == 404
    finally:
        link.unlink()


def test_other_host_names_are_refused(server: PageServer) -> None:
    assert request(server, "/api/state", headers={"Host": "attacker.example:80"})[0] == 403
    assert request(server, "/api/state")[0] == 200


def test_the_page_uses_no_remote_assets(server: PageServer) -> None:
    for path in ("/", "/static/review.js", "/static/common.js", "/static/common.css", "/static/viewer.html"):
        status, _, body = request(server, path)
        assert status == 200 and b"http://" not in body and b"https://" not in body and b"//cdn" not in body


def test_decide_api_saves_and_checks(server: PageServer, release: Path) -> None:
    status, payload = post(server, "decide", {"id": AUDIO_ID, "decision": "reject", "reason": "ambiguous voice"})
    assert status == 200 and payload["progress"]["line"] == "1 / 36 reviewed, 1 rejected"
    assert read_decisions(release)[AUDIO_ID].reason == "ambiguous voice"
    assert post(server, "decide", {"id": VISION_ID, "decision": "reject"})[0] == 400  # no reason
    assert post(server, "decide", {"id": "nope", "decision": "accept"})[0] == 404
    assert post(server, "decide", {"id": VISION_ID, "decision": "maybe"})[0] == 400
    own = f"http://127.0.0.1:{server.server_address[1]}"
    form_type = {"Content-Type": "application/x-www-form-urlencoded", "Origin": own}
    form = request(server, "/api/decide", "POST", b"id=x", form_type)
    assert form[0] == 415  # a cross-site form cannot post decisions
    status, _, body = request(server, "/api/state")
    state = json.loads(body)
    assert state["progress"]["line"] == "1 / 36 reviewed, 1 rejected"
    assert {i["id"]: i["decision"] for i in state["instances"]}[AUDIO_ID] == "reject"


def test_instance_payload(server: PageServer) -> None:
    status, _, body = request(server, f"/api/instance?id={AUDIO_ID}")
    item = json.loads(body)
    assert status == 200 and item["clip"]["url"] == f"/files/media/{CLIP}"
    expected = next(
        r for r in map(json.loads, (SAMPLE_RELEASE / "test.jsonl").read_text().splitlines()) if r["id"] == AUDIO_ID
    )
    assert item["question"] == expected["question"] and item["options"] == expected["options"]
    assert item["referent"] == expected["referent"] and item["answer"] == expected["answer"]
    assert item["task"]["short"] == "Au"
    assert item["evidence"] is None  # the embedded release has no build folder beside it


# --- a build folder: the verify stage's evidence


def test_evidence_from_a_build_folder(sample_tvqa_root: Path, tmp_path: Path) -> None:
    from builder.config import BuildConfig
    from builder.pipeline import run_build

    run_build(BuildConfig(tvqa_root=sample_tvqa_root, out=tmp_path / "build", progress=False))
    page = ReviewApp(tmp_path / "build", sample_tvqa_root)  # the build folder is accepted too
    assert page.release_dir == tmp_path / "build" / "release"
    for record in page.instances:
        evidence = page.instance(record["id"])["evidence"]
        matching = [p["name"] for p in evidence["people"] if p["matches_cue"]]
        assert matching == [record["referent"]], record["id"]  # the cue picks out the referent, and only them
        referent = next(p for p in evidence["people"] if p["name"] == record["referent"])
        assert evidence["answer_text"].lower() in [v.lower() for v in referent["target_values"]]
    rejected = page.instance("castle_s01e01_seg02_clip_00-text_to_vision")["evidence"]["rejected_candidates"]
    assert {r["reason"] for r in rejected} == {"text-shortcut"}  # the verify stage's leak rule, with its evidence


def test_review_command_errors_in_one_line(tmp_path: Path, sample_release: Path) -> None:
    from builder.cli import app

    def error_of(*args: str) -> str:
        result = CliRunner().invoke(app, ["review", *args])
        assert result.exit_code == 2
        return " ".join(result.output.replace("│", " ").split())  # the error box wraps lines

    assert "neither a release (no release.json) nor a build folder" in error_of(str(tmp_path))
    assert "media are referenced from TVQA" in error_of(str(sample_release))  # no --tvqa-root
    with pytest.raises(ReleaseError):
        ReviewApp(sample_release)


def test_a_port_in_use_is_a_one_line_error(release: Path, sample_tvqa_root: Path) -> None:
    import socket

    from evaluation.web.server import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{port}.*--port 0"):
            serve(ReviewApp(release, sample_tvqa_root), "127.0.0.1", port, announce=lambda _: None)
