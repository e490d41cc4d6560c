"""Stage 4, biography: an LLM writes a fictional biography per person from name + appearance;
the text double check drops a biography that renames the person, and two people whose
biographies give the same facts."""

from __future__ import annotations

from typing import Any

from builder.config import BuildConfig
from builder.prompts import parse_reply
from builder.records import Bio, BiographedClip, DescribedClip
from builder.replies import BiographyReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import make_request, normalize
from model_calls.base import ModelRequest, ModelResponse


class BiographyStage:
    name = "biography"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.role = config.role("text")

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip = DescribedClip.model_validate(item)
        return [
            make_request(
                self.role, "biography", BiographyReply, clip_id=clip.clip_id, name=p.name, description=p.description
            )
            for p in clip.people
        ]

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        clip = DescribedClip.model_validate(item)
        bios, failures = [], []
        for person, response in zip(clip.people, responses, strict=True):
            parsed, error = (None, response.error) if response.error else parse_reply(response.text, BiographyReply)
            if parsed is None:
                failures.append(reply_failure(clip.clip_id, "biography", person.name, response, error or ""))
                bios.append(Bio(name=person.name, raw=response.text, error=error))
                continue
            if normalize(parsed.name) != normalize(person.name):
                error = f"biography names {parsed.name!r}, expected {person.name!r}"
                failures.append(reject(clip.clip_id, "text-check", f"{person.name}: {error}", dropped=False))
                bios.append(Bio(name=person.name, raw=response.text, error=error))
                continue
            bios.append(
                Bio(
                    name=person.name,
                    birthplace=parsed.birthplace,
                    birthdate=parsed.birthdate,
                    occupation=parsed.occupation,
                    text=parsed.biography,
                    raw=response.text,
                )
            )
        facts: dict[tuple[str, ...], list[Bio]] = {}
        for bio in bios:
            if bio.error is None:
                facts.setdefault(
                    tuple(normalize(x or "") for x in (bio.birthplace, bio.birthdate, bio.occupation)), []
                ).append(bio)
        for same in facts.values():
            if len(same) > 1:
                for bio in same:
                    bio.error = f"same facts as {', '.join(b.name for b in same if b is not bio)}"
                    failures.append(reject(clip.clip_id, "text-check", f"{bio.name}: {bio.error}", dropped=False))
        if not any(b.error is None for b in bios):
            return [], [*failures, reject(clip.clip_id, "no-biographies", "no biography passed", dropped=True)]
        return [BiographedClip(**clip.model_dump(), bios=bios).model_dump()], failures
