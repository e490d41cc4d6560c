"""The response cache: hits are not re-sent, and identical requests of one batch are sent once."""

from __future__ import annotations

from model_calls import CachedBackend, ModelRequest, ModelResponse, ResponseCache


class Recording:
    """Answers each request with a reply numbered by how many requests it has seen; records every batch."""

    name = "recording"

    def __init__(self, fail: str | None = None) -> None:
        self.calls = 0
        self.batches: list[list[str]] = []
        self.fail = fail

    def generate(self, requests):
        self.calls += 1
        self.batches.append([r.messages[0]["content"] for r in requests])
        replies = []
        for request in requests:
            text = request.messages[0]["content"]
            seen = sum(len(batch) for batch in self.batches)
            if text == self.fail:
                replies.append(ModelResponse(key=request.key(), model=request.model, error="HTTP 503"))
            else:
                replies.append(
                    ModelResponse(key=request.key(), model=request.model, text=f"{text}#{seen}", usage={"n": seen})
                )
        return replies


def _request(text: str, item: str) -> ModelRequest:
    # metadata is not part of the key: the same question for two items is the same request
    return ModelRequest(model="m", messages=[{"role": "user", "content": text}], metadata={"id": item})


def test_identical_requests_in_one_batch_are_sent_once(tmp_path):
    inner = Recording(fail="down")
    backend = CachedBackend(inner, ResponseCache(tmp_path / "cache.sqlite"))
    texts = ["who", "what", "who", "down", "who", "what", "down"]
    replies = backend.generate([_request(text, f"item{i}") for i, text in enumerate(texts)])
    assert inner.batches == [["who", "what", "down"]]
    assert [r.text for r in replies] == ["who#3", "what#3", "who#3", None, "who#3", "what#3", None]
    assert [r.error for r in replies if not r.ok] == ["HTTP 503", "HTTP 503"]
    assert [r.cached for r in replies] == [False, False, True, False, True, True, True]
    first, repeat = replies[0], replies[2]
    assert (repeat.key, repeat.model, repeat.usage) == (first.key, first.model, first.usage)
    assert repeat.usage is not first.usage  # a copy: editing one reply leaves the other alone
    assert (backend.misses, backend.hits, backend.duplicates) == (3, 4, 4)

    # the next batch: answered from the cache, except the error, which is retried once
    again = backend.generate([_request(text, "other") for text in texts])
    assert inner.batches[1:] == [["down"]]
    assert [r.text for r in again] == [r.text for r in replies]
    assert (backend.misses, backend.hits) == (4, 10)
