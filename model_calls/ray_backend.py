"""The ``ray`` backend: any engine (``vllm``, ``transformers``, ``openai``, ``replay``) inside Ray actors.

One ``generate`` call is one Ray Data pipeline: the requests become rows (``from_items``, each
request as JSON: media travel as paths, never tensors), ``map_batches`` runs them through a pool
of ``EngineActor`` replicas (``concurrency=replicas``, ``num_gpus``/``num_cpus`` per replica),
and the driver reads the replies back as they stream in. The pool lives for that call only, so a
builder stage — sent whole — gets its own actors, released before the next stage loads another
model. Ray restarts a lost actor and retries its batch (``max_restarts``/``max_task_retries``);
an engine's per-request failures come back as error responses, like any backend's.

Each reply is handed to ``on_response`` the moment it arrives (``CachedBackend`` sets it to write
the reply to the sqlite cache), so a killed driver loses no finished reply: the rerun answers
those from the cache and sends only the rest.

Usage (a cluster started with ``ray start``; on a laptop a local cluster is started)::

    crossomni build ... --backend ray -o address=auto -o engine=vllm -o replicas=8 -o num_gpus=1
    crossomni eval --model M ... --backend ray -o engine=transformers -o replicas=2
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import ray

from model_calls.base import Backend, ModelRequest, ModelResponse
from model_calls.registry import get_backend

# Engines that load one model per instance: the requests of each model get their own pool.
PER_MODEL_ENGINES = ("vllm", "transformers")


class EngineActor:
    """A Ray Data callable class: one engine instance per replica, built once, reused for every batch."""

    def __init__(self, engine: str, options: dict[str, Any]) -> None:
        self.backend: Backend = get_backend(engine, **options)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        requests = [_request_from_json(text) for text in batch["request"]]
        responses = self.backend.generate(requests)
        return {"index": list(batch["index"]), "response": [json.dumps(r.to_json()) for r in responses]}


def _request_from_json(text: str) -> ModelRequest:
    fields = json.loads(text)
    fields["messages"] = tuple(fields["messages"])
    return ModelRequest(**fields)


class RayBackend:
    """Run ``engine`` in ``replicas`` Ray actors; ``options`` not named here go to the engine."""

    name = "ray"
    reads_media = False  # the actors sample media where they run, not the driver
    # every pending item in one call (the eval runner's chunk): one actor pool, engines loaded once
    chunk_size = 1_000_000

    def __init__(
        self,
        engine: str = "transformers",
        *,
        replicas: int = 1,
        num_gpus: float = 0,
        num_cpus: float = 1,
        address: str | None = None,
        batch_size: int = 16,
        max_restarts: int = 2,
        model: str | None = None,
        role_options: dict[str, dict[str, Any]] | None = None,
        **engine_options: Any,
    ) -> None:
        if engine == "ray":
            raise ValueError("-o engine=ray: choose the engine the actors run (vllm, transformers, openai, replay)")
        if replicas < 1 or batch_size < 1:
            raise ValueError("-o replicas and -o batch_size must be at least 1")
        self.engine = engine
        self.replicas = int(replicas)
        self.num_gpus = float(num_gpus)
        self.num_cpus = float(num_cpus)
        self.batch_size = int(batch_size)
        self.max_restarts = int(max_restarts)
        self.model = model  # eval: one model for every request; the builder routes by request.model
        self.role_options = role_options or {}
        self.engine_options = engine_options
        self.address = address
        self.calls = 0
        self.on_response: Callable[[ModelRequest, ModelResponse], None] | None = None

    def _connect(self) -> None:
        if not ray.is_initialized():
            # a local cluster when no address is given; log_to_driver off keeps actor chatter out of the run's output
            ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
        # the stage's own progress bar and report say how far it is; Ray Data's per-operator log would drown them
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def _engine_options(self, model: str) -> dict[str, Any]:
        options = dict(self.engine_options)
        if self.engine in PER_MODEL_ENGINES:
            options["model"] = self.model or model
        if self.engine == "transformers":
            options.setdefault("batch_size", self.batch_size)
        if self.engine == "openai" or self.engine in PER_MODEL_ENGINES:
            options.update(self.role_options.get(model, {}))
        return options

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        """One response per request, in order; each is reported to ``on_response`` as soon as it arrives."""
        if not requests:
            return []
        self._connect()
        keys = [request.key() for request in requests]
        results: list[ModelResponse | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            group = request.model if self.engine in PER_MODEL_ENGINES and not self.model else ""
            groups.setdefault(group, []).append(i)
        for model, indices in groups.items():
            self._run_pool(model or requests[indices[0]].model, indices, requests, keys, results)
        self.calls += 1
        missing = [keys[i] for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"the Ray pipeline returned no reply for {len(missing)} request(s)")
        return [r for r in results if r is not None]

    def _run_pool(
        self,
        model: str,
        indices: list[int],
        requests: Sequence[ModelRequest],
        keys: list[str],
        results: list[ModelResponse | None],
    ) -> None:
        rows = [{"index": i, "request": json.dumps(asdict(requests[i]))} for i in indices]
        replies = ray.data.from_items(rows).map_batches(
            EngineActor,
            fn_constructor_kwargs={"engine": self.engine, "options": self._engine_options(model)},
            concurrency=min(self.replicas, len(rows)),
            batch_size=self.batch_size,
            num_gpus=self.num_gpus,
            num_cpus=self.num_cpus,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_restarts,
        )
        for row in replies.iter_rows():
            i = int(row["index"])
            fields = json.loads(row["response"])
            response = ModelResponse(**{**fields, "key": keys[i]})  # the driver's key: the cache's key
            results[i] = response
            if self.on_response is not None:
                self.on_response(requests[i], response)
