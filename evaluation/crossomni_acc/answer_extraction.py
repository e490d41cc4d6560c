"""Read the chosen option letter out of a model's free-form answer, as a careful human reader would.

Rules, applied to the text outside ``<think>…</think>`` with markdown emphasis removed:

1. **Structured answers** — a JSON object's ``answer``/``final_answer``/``choice`` field,
   ``<answer>X</answer>``, ``\\boxed{X}`` — are read first.
2. **Answer statements** — "the answer is X", "Answer: X", "Final answer: X", "I'd go with X",
   "option X is correct", a correction ("Actually, it's X"), or a last line holding only the letter.
   A statement names the letter it *starts* with: "The answer is B, since option A is the other woman"
   states B. "Final answer" statements outrank the others; among equals the last one wins (models
   correct themselves). A negated statement ("The answer is not A") states nothing, unless it goes
   on "…not A but C" (→ C).
3. With no statement: a letter **opening** the response before punctuation or a line break ("C. A pretty
   dress", "D, because…"), unless several lines open with different letters (an enumeration of options);
   then a letter in brackets, "(C)", when it is the only bracketed letter; then the text of exactly
   one option (when ``options`` are given, the part after the last answer cue tried first); last, a letter
   ending the response right after a sentence break, a colon or "is/pick/so…" ("…so it's D."), but not as
   part of a name ("…rich in vitamin D." is not an answer).

An answer that names two or more letters ("Answer: (B) or (C)", "either A or D", "B/C") or none is
unparseable: ``None``, which the metric scores as wrong and counts as a parse failure. A negated letter
("It is not A.", "not (B)") is never read as the answer, and neither is option text that is negated
("He is not a stage actor"). Only valid choice letters are returned: "The correct answer is (B)" is B,
never T; an article "A" ("A pretty dress…") is not a letter.

``strict_choice`` is the form the GRPO prompt asks for and nothing else: ``</think>`` then one letter.

>>> extract_choice("The correct answer is (B).")
'B'
>>> extract_choice("C. A pretty red dress")
'C'
>>> extract_choice("The answer is B, since option A is the other woman.")
'B'
>>> extract_choice("It is not A.") is None, extract_choice("Answer: (B) or (C)") is None
(True, True)
>>> extract_choice('{"answer": "D", "reason": "the high voice"}')
'D'
>>> extract_choice("<think>Maybe A? No.</think>\\nd")
'D'
>>> extract_choice("He works as a data analyst.", options=["pastry chef", "data analyst", "nurse", "actor"])
'B'
>>> extract_choice("I cannot tell from the clip.") is None
True
>>> strict_choice("<think>The high voice is Rachel.</think>\\nB"), strict_choice("<think>x</think> The answer is B")
('B', None)
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#]+")

# The cue that introduces a stated choice; group "final" marks the top-ranked "final answer" cues.
_CUE = re.compile(
    r"(?i:\b(?:(?P<final>final\s+(?:answer|choice|option|selection))"
    r"|(?:correct|right|best)\s+(?:answer|option|choice|letter|one)"
    r"|answer"
    r"|my\s+(?:choice|pick|selection)"
    r"|i(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|answer|guess|say)"
    r"|答案"
    r"|(?:actually|wait|correction|on\s+second\s+thought)[,:]?\s+(?:it(?:'s|\s+is|\s+must\s+be)|i(?:t|'d)\s+say))\b)"
)
# What may sit between a cue and the letter: a verb ("is", "would be", ":") and a filler word.
_FILLER = (
    r"(?:\b(?:here|then|therefore|thus|clearly|probably|likely|most\s+likely|definitely|must|should|would|will"
    r"|seems\s+to|appears\s+to)\b\s*)*"
)
_VERB = re.compile(
    rf"(?i:\s*{_FILLER}(?:\b(?:is|be|was)\b|[:：=\-–—]|→)?\s*{_FILLER}(?:\b(?:is|be)\b)?\s*(?:[:：\-–—]\s*)?)"
)
_NEGATION = re.compile(r"(?i:\s*(?:\b(?:certainly|surely)\s+)?(?:\bnot\b|n't\b|\bnever\b))")
_BUT = re.compile(r"(?i:\s*[,;]?\s*(?:but|rather|it's|it\s+is|instead)\b[\s,]*(?:rather\s+)?)")
_HEDGE = re.compile(
    r"(?i:\s*(?:,|/|&|\bor\b|\band\b|\bthen\b|\bversus\b|\bvs\.?)\s*(?:maybe\s+|perhaps\s+|possibly\s+)?)"
)
_OPTION_WORD = re.compile(r"(?i:\s*(?:\b(?:either|both|option|choice|letter)\b\s*)*[:#]?\s*)")
_OPEN_QUOTE = "([\"'“‘"
_CLOSE_QUOTE = ")]\"'”’"
# A connective after an upper-case "A" keeps it a letter ("A because…"); any other lower-case word makes it an article.
_CONNECTIVES = frozenset(
    "because since as for given and or but which while whereas so then is was seems would could should "
    "from in on with based according".split()
)
_NEGATED_BEFORE = re.compile(
    r"(?i:(?:\bnot|n't|\bnever|\bexcept|\bexcluding|\brule\s+out|\bruling\s+out|\beliminate|\bexclude)\s*"
    r"(?:\b(?:option|choice|letter)\b\s*)?[(\[\"'“‘]?\s*)$"
)
# What may precede a letter that ends the response for it to count as an answer.
_END_CONTEXT = re.compile(
    r"(?i:(?:^|[.!?:;\n=→>\-–—]|\b(?:is|it's|be|so|thus|hence|therefore|pick|choose|select|answer|option|choice|think|believe)\b)"
    r"\s*[(\[\"'“‘]?\s*)$"
)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_JSON_KEYS = ("answer", "final_answer", "finalanswer", "choice", "option", "letter")
_JSON_FIELD = re.compile(r"(?i)[\"']?(?:final_?answer|answer|choice)[\"']?\s*:\s*[\"']([^\"']*)[\"']")
_TAGGED = re.compile(r"<answer>(.*?)</answer>|\\boxed\{([^{}]*)\}", re.IGNORECASE | re.DOTALL)
_STRICT = re.compile(r"</think>\s*([A-Z])\s*\Z")

_AMBIGUOUS = "?"  # a statement that names several letters


def strip_thinking(text: str) -> str:
    """Drop ``<think>…</think>`` blocks; an unclosed block hides everything after it.

    A lone ``</think>`` (templates that open the block in the prompt) keeps only what follows it.
    """
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


def strict_choice(text: str | None, letters: Sequence[str] = DEFAULT_LETTERS) -> str | None:
    """The letter when the response ends with ``</think>`` and then exactly one upper-case choice letter, else None.

    >>> strict_choice("<think>r</think>\\nThe answer is not A."), strict_choice("<think>r</think>\\nd")
    (None, None)
    """
    if not text:
        return None
    match = _STRICT.search(text)
    return match.group(1) if match and match.group(1) in letters else None


@dataclass(frozen=True)
class _Letters:
    """One set of choice letters and the patterns that name them (compiled once per set)."""

    upper: str
    lower: str
    post_statement: re.Pattern[str]  # "option C is correct", "(B) is the right answer", "D is the one."
    opening: re.Pattern[str]
    line_opener: re.Pattern[str]
    bracketed: re.Pattern[str]
    ending: re.Pattern[str]

    def of(self, char: str) -> str | None:
        """The choice letter ``char`` stands for (either case), or None."""
        return char.upper() if char and (char in self.upper or char in self.lower) else None


@lru_cache(maxsize=32)
def _letter_set(key: str) -> _Letters:
    upper, lower = key, key.lower()
    return _Letters(
        upper=upper,
        lower=lower,
        post_statement=re.compile(
            rf"(?i:(?:\b(?:option|choice|letter)\s*)?)[(\[\"'“‘]?(?-i:([{upper}]))[)\]\"'”’]?\s+(?:is|seems)\s+"
            r"(?i:(?:the\s+)?(?:correct|right|best|answer\b)|the\s+one\s*(?:[.!]|$))"
        ),
        opening=re.compile(
            rf"\s*(?i:(?:option|choice)\s+)?[(\[]?([{upper}])(?:[)\]]?\s*(?:[.,:;)\-–—]|$)|[)\]])", re.MULTILINE
        ),
        line_opener=re.compile(rf"(?m)^\s*[(\[]?([{upper}])[.):\]]"),
        bracketed=re.compile(rf"[(\[]([{upper}{lower}])[)\]]"),
        ending=re.compile(rf"(?<![A-Za-z0-9'’])([{upper}])[\s.!)\]\"'”’]*\Z"),
    )


# Words without which no _CUE can match (a cheap test that spares scanning most texts with the cue pattern).
_CUE_WORDS = (
    "answer",
    "correct",
    "right",
    "best",
    "choice",
    "pick",
    "selection",
    "choose",
    "select",
    "go",
    "guess",
    "say",
    "option",
    "actually",
    "wait",
    "correction",
    "thought",
)
_LONE_LETTER = re.compile(r"\s*[(\[]?\s*(\w)\s*[)\]]?\s*[.:]?\s*")
_LOWER_LETTER_END = re.compile(r"\s*(?:[.,;:!?)\]\"'”’/]|\bor\b|\band\b|$)")
_ARTICLE_WORD = re.compile(r" +([a-z]+)")


def _may_hold_cue(text: str) -> bool:
    """False only when ``text`` cannot contain a ``_CUE``: every cue holds one of ``_CUE_WORDS`` in some case.
    Text beyond ASCII is always scanned (case-insensitive matching folds "ſ" to "s", and "答案" is a cue)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _CUE_WORDS)


def _letter_at(text: str, pos: int, letters: _Letters) -> tuple[str, int] | None:
    """A choice letter written at ``pos`` (in quotes/brackets allowed) that is not part of a word, and its end."""
    i = pos
    while i < len(text) and text[i] in _OPEN_QUOTE + " \t":
        i += 1
    if i >= len(text) or letters.of(text[i]) is None:
        return None
    char, after = text[i], text[i + 1 : i + 2]
    if after and (after.isalnum() or (after in "'’" and text[i + 2 : i + 3].isalpha())):
        return None  # "Bob", "A's"
    rest = text[i + 1 :]
    if char in letters.lower:
        # a lower-case letter counts only when no word follows it ("answer is a." yes, "answer is a tricky" no)
        if not _LOWER_LETTER_END.match(rest):
            return None
    elif char == "A":
        word = _ARTICLE_WORD.match(rest)
        if word and word.group(1) not in _CONNECTIVES:
            return None  # the article: "A pretty dress"
    end = i + 1
    while end < len(text) and text[end] in _CLOSE_QUOTE:
        end += 1
    return char.upper(), end


def _stated_value(text: str, pos: int, letters: _Letters) -> str | None:
    """What a statement starting at ``pos`` (after its cue) names: a letter, ``_AMBIGUOUS``, or None."""
    verb = _VERB.match(text, pos)
    pos = verb.end() if verb else pos
    negated = _NEGATION.match(text, pos)
    if negated:
        first = _letter_at(text, _OPTION_WORD.match(text, negated.end()).end(), letters)
        if first is None:
            return None
        but = _BUT.match(text, first[1])
        if but:
            return _stated_value(text, but.end(), letters)
        return None
    start = _OPTION_WORD.match(text, pos).end()
    first = _letter_at(text, start, letters)
    if first is None:
        return None
    hedge = _HEDGE.match(text, first[1])
    if hedge:
        second = _letter_at(text, _OPTION_WORD.match(text, hedge.end()).end(), letters)
        if second is not None and second[0] != first[0]:
            return _AMBIGUOUS
    return first[0]


def _json_value(body: str, letters: _Letters, options: Sequence[str] | None, keys: Sequence[str]) -> str | None:
    """The answer field of the last JSON object carrying one (letter or option text)."""
    found = None
    for match in _JSON_OBJECT.finditer(body):
        try:
            data = json.loads(match.group())
        except ValueError:
            data = None
        if isinstance(data, dict):
            fields = {str(k).lower(): v for k, v in data.items()}
            value = next((fields[k] for k in _JSON_KEYS if k in fields), None)
        else:
            field = _JSON_FIELD.search(match.group())
            value = field.group(1) if field else None
        if value is None:
            continue
        found = _value_of(str(value), letters, options, keys)
    return found


def _value_of(value: str, letters: _Letters, options: Sequence[str] | None, keys: Sequence[str]) -> str | None:
    """A short answer value (JSON field, tag content): its letter, ``_AMBIGUOUS``, or its option text."""
    stated = _stated_value(value, 0, letters)
    if stated is not None:
        return stated
    if options:
        return match_option_text(value, options, keys)
    return None


def _statements(body: str, letters: _Letters) -> list[tuple[int, int, str]]:
    """Every answer statement as ``(rank, position, value)``; rank 2 for "final answer", 1 otherwise.

    ``body`` is stripped (its last line holds text)."""
    found = []
    if _may_hold_cue(body):
        for cue in _CUE.finditer(body):
            value = _stated_value(body, cue.end(), letters)
            if value is not None:
                found.append((2 if cue.group("final") else 1, cue.start(), value))
    if "is" in body or "seems" in body:  # "option C is correct", "(B) is the right answer", "D is the one."
        for match in letters.post_statement.finditer(body):
            if not _NEGATED_BEFORE.search(body[: match.start()]):
                found.append((1, match.start(), match.group(1)))
    lines = body.splitlines()
    if lines:
        lone = _LONE_LETTER.fullmatch(lines[-1])
        if lone and letters.of(lone.group(1)):
            found.append((1, len(body), lone.group(1).upper()))
    return found


def _opening_letter(body: str, letters: _Letters) -> str | None:
    """A letter that opens the response before punctuation or a line break, unless it starts an enumeration."""
    match = letters.opening.match(body)
    if match is None:
        return None
    hedge = _HEDGE.match(body, match.end(1))
    if hedge and _letter_at(body, _OPTION_WORD.match(body, hedge.end()).end(), letters):
        return None  # "A, B and C are wrong…"
    openers = set(letters.line_opener.findall(body))
    if len(openers) > 1:
        return None  # "A. …\nB. …": the options are being enumerated
    return match.group(1)


def _bracketed_letter(body: str, letters: _Letters) -> str | None:
    """The letter of "(X)"/"[X]" mentions when exactly one letter is bracketed (and not negated)."""
    seen = {
        match.group(1).upper()
        for match in letters.bracketed.finditer(body)
        if not _NEGATED_BEFORE.search(body[: match.start() + 1])
    }
    return seen.pop() if len(seen) == 1 else None


def _ending_letter(body: str, letters: _Letters) -> str | None:
    """An upper-case letter ending the response right after a sentence break, a colon or 'is/so/pick…'."""
    match = letters.ending.search(body)
    if match is None:
        return None
    before = body[: match.start()]
    if _NEGATED_BEFORE.search(before) or not _END_CONTEXT.search(before):
        return None
    return match.group(1)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


_NEGATED_TEXT = re.compile(r"(?:\bnot|\bn t|\bnever)(?: [a-z]+ing)?(?: (?:a|an|the))? $")


def match_option_text(text: str, options: Sequence[str], letters: Sequence[str]) -> str | None:
    """The letter of the one option whose text appears in ``text`` (``None`` if none or several do).

    An option that only appears inside a longer matching option ("calm" in "calm expression")
    does not count, nor does a negated mention ("not a stage actor"). The text after the last
    answer cue is tried first.
    """
    cues = list(_CUE.finditer(text))
    candidates = [text[cues[-1].end() :], text] if cues else [text]
    for candidate in candidates:
        haystack = f" {_normalise(candidate)} "
        spans = []
        for letter, option in zip(letters, options, strict=False):
            needle = _normalise(option)
            if not needle:
                continue
            for match in re.finditer(re.escape(f" {needle} "), haystack):
                if not _NEGATED_TEXT.search(haystack[: match.start() + 1]):
                    spans.append((match.start(), match.end(), letter))
        kept = {
            letter
            for start, end, letter in spans
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)
        }
        if len(kept) == 1:
            return kept.pop()
        if len(kept) > 1:
            return None
    return None


def extract_choice(
    text: str | None, options: Sequence[str] | None = None, letters: Sequence[str] | None = None
) -> str | None:
    """The option letter a response chooses, or ``None`` when it cannot be read (see the module rules).

    ``letters`` defaults to A–D (or the first ``len(options)`` letters when ``options`` are given).
    """
    if text is None:
        return None
    if letters is None:
        letters = tuple(string.ascii_uppercase[: len(options)]) if options else DEFAULT_LETTERS
    keys = tuple(letters)
    letter_set = _letter_set("".join(keys))
    body = _MARKUP.sub("", strip_thinking(str(text))).strip()
    if not body:
        return None

    structured = [_value_of(m.group(1) or m.group(2) or "", letter_set, options, keys) for m in _TAGGED.finditer(body)]
    structured = [value for value in structured if value is not None]
    value = structured[-1] if structured else _json_value(body, letter_set, options, keys)
    if value is None:
        statements = _statements(body, letter_set)
        if statements:
            best = max(rank for rank, _, _ in statements)
            value = max((pos, v) for rank, pos, v in statements if rank == best)[1]
    if value is not None:
        return None if value == _AMBIGUOUS else value

    for reader in (_opening_letter, _bracketed_letter):
        found = reader(body, letter_set)
        if found:
            return found
    if options:
        found = match_option_text(body, options, keys)
        if found:
            return found
    return _ending_letter(body, letter_set)
