"""Stage 10, rationale: four-step reasoning chains for the train split — (1) name the source and
target modalities, (2) locate the referent in the source, (3) find them in the target, (4) read
the answer. ``template`` writes them from the annotations; ``llm`` asks the text model and
keeps a chain only when its four steps end at the gold option."""

from __future__ import annotations

from typing import Any

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import Instance
from builder.replies import RationaleReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import article, kind_modality, make_request
from crossomni import LETTERS, TASKS
from model_calls.base import ModelRequest, ModelResponse


def format_chain(steps: list[str], letter: str) -> str:
    lines = [f"Step {i}: {step.strip()}" for i, step in enumerate(steps, start=1)]
    return "\n".join([*lines, load_templates()["rationale"]["final"].format(letter=letter)])


def template_rationale(instance: Instance) -> str:
    phrases = load_templates()["rationale"]
    task = TASKS[instance.task_type]
    facts = {
        "name": instance.referent,
        **instance.facts,
        "a_shirt": f"{article(instance.facts.get('shirt', ''))} {instance.facts.get('shirt', '')}",
    }
    source, target = kind_modality(instance.source_kind), kind_modality(instance.target_kind)
    steps = [
        phrases["step1"].format(
            source_desc=phrases["source_desc"][instance.source_kind],
            target_desc=phrases["target_desc"][instance.target_kind],
            source=task.source,
            target=task.target,
        ),
        phrases["locate"][instance.source_kind].format(
            value=instance.source_value, article=article(instance.source_value), **facts
        ),
        phrases["bridge"][f"{source}-{target}"].format(**facts),
        phrases["answer"][instance.target_kind].format(
            answer=instance.answer_text, article=article(instance.answer_text), **facts
        ),
    ]
    return format_chain(steps, instance.answer)


def _needs_rationale(instance: Instance) -> bool:
    return instance.split == "train"


class TemplateRationaleStage:
    name = "rationale"
    unit = "instance"

    def __init__(self, config: BuildConfig) -> None:
        pass

    def process(self, item: dict[str, Any]) -> Outputs:
        instance = Instance.model_validate(item)
        if _needs_rationale(instance):
            instance.rationale = template_rationale(instance)
        return [instance.model_dump()], []


class LLMRationaleStage:
    name = "rationale"
    unit = "instance"

    def __init__(self, config: BuildConfig) -> None:
        self.role = config.role("text")

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        instance = Instance.model_validate(item)
        if not _needs_rationale(instance):
            return []
        facts = instance.facts
        shirt = facts.get("shirt", "")
        notes = (
            f"the person is {instance.referent}, who wears {article(shirt)} {shirt} shirt "
            f"and {facts.get('pants')} pants and is {facts.get('position')} of the frame; the question finds them by "
            f"their {instance.source_kind} ({instance.source_value}) and asks for their {instance.target_kind}"
        )
        return [
            make_request(
                self.role,
                "rationale",
                RationaleReply,
                instance=instance.model_dump(),
                clip_id=instance.clip_id,
                question=instance.question,
                options=instance.options,
                letters=LETTERS,
                answer=instance.answer,
                answer_text=instance.answer_text,
                biography=instance.biography,
                notes=notes,
            )
        ]

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        instance = Instance.model_validate(item)
        if not responses:
            return [instance.model_dump()], []
        response = responses[0]
        parsed, error = (None, response.error) if response.error else parse_reply(response.text, RationaleReply)
        if parsed is None:
            failure = reply_failure(instance.id, "rationale", instance.id, response, error or "")
            return [], [
                failure,
                reject(instance.id, "no-rationale", "train instance without a usable rationale", dropped=True),
            ]
        if parsed.answer.strip().strip(".()").upper() != instance.answer or not all(s.strip() for s in parsed.steps):
            detail = f"chain ends at {parsed.answer!r}, gold is {instance.answer}"
            return [], [reject(instance.id, "rationale-inconsistent", detail, raw=response.text, dropped=True)]
        instance.rationale = format_chain(parsed.steps, instance.answer)
        instance.rationale_raw = response.text
        return [instance.model_dump()], []
