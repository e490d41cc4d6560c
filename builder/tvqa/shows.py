"""TVQA's six shows: the clip prefix, the spelling in TVQA's files and the usual spelling.

Any of the three selects a show (``--show``); the prefix is the canonical key, and it is also
the frame-folder prefix (``frames_hq/<prefix>_frames/``). Big Bang Theory clips carry no prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_PREFIX_SHOW = "bbt"


@dataclass(frozen=True)
class Show:
    prefix: str
    tvqa_name: str  # as spelled in TVQA's QA files
    name: str  # the usual spelling

    def spellings(self) -> tuple[str, ...]:
        return (self.prefix, self.tvqa_name, self.name)


SHOWS: tuple[Show, ...] = (
    Show("bbt", "The Big Bang Theory", "The Big Bang Theory"),
    Show("friends", "Friends", "Friends"),
    Show("met", "How I Met You Mother", "How I Met Your Mother"),
    Show("grey", "Grey's Anatomy", "Grey's Anatomy"),
    Show("house", "House M.D.", "House"),
    Show("castle", "Castle", "Castle"),
)
_BY_PREFIX = {show.prefix: show for show in SHOWS}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


_BY_SPELLING = {_key(spelling): show for show in SHOWS for spelling in show.spellings()}


def show_prefix(vid_name: str) -> str:
    """The show prefix of a clip name (Big Bang Theory clips have none: ``bbt``)."""
    head = vid_name.split("_", 1)[0]
    return head if head in _BY_PREFIX else NO_PREFIX_SHOW


def resolve_show(text: str) -> str:
    """The prefix of the show ``text`` names (prefix, TVQA's spelling or the usual one, any case).

    Raises ``ValueError`` listing the known shows when ``text`` names none of them.
    """
    show = _BY_SPELLING.get(_key(text))
    if show is None:
        known = "; ".join(f"{s.prefix} ({s.name})" for s in SHOWS)
        raise ValueError(f"unknown show {text!r}; known shows: {known}")
    return show.prefix


def show_name(prefix: str) -> str:
    """TVQA's spelling of a show, from its prefix."""
    return _BY_PREFIX[prefix].tvqa_name
