"""A replay engine that takes its time: gives a kill test something to interrupt (importable by Ray actors)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from model_calls.base import ModelRequest, ModelResponse
from model_calls.replay import ReplayBackend


class SlowReplay(ReplayBackend):
    name = "slow-replay"

    def __init__(self, path: str, delay: float = 0.3, **options: Any) -> None:
        super().__init__(path, **options)
        self.delay = delay

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        time.sleep(self.delay * len(requests))
        return super().generate(requests)
