"""Read the chosen option letter out of a model's free-form answer, as a careful human reader would.

First, the part of the output that is the answer (one rule per model format):

- **Reasoning is not the answer.** ``<think>…</think>`` and the other reasoning blocks models emit
  (``<thinking>``, Kimi's ``◁think▷…◁/think▷``, Seed's ``<seed:think>``, Gemma's ``<|channel>…<channel|>``)
  are removed; an unclosed block hides everything after it; a lone closing tag (templates that open the
  block in the prompt) keeps only what follows it. gpt-oss Harmony output keeps only its ``final`` channel
  (``<|channel|>final<|message|>…``, or ``…assistantfinal…`` when special tokens were skipped).
- **The turn ends at its end token.** Everything from an end-of-turn token (``<|im_end|>``,
  ``<|endoftext|>``, ``<|eot_id|>``, ``<|end|>``, ``</s>``, ``<end_of_turn>``, DeepSeek's
  ``<｜end▁of▁sentence｜>``…) or from a line that opens another turn (``Human:``, ``User:``) on is dropped:
  it is the model talking past its answer. Other special tokens ``<|…|>`` read as a space.
- **Markup is presentation.** Fullwidth forms read as ASCII (``（Ｂ）`` is ``(B)``, ``答案：Ｃ`` is ``答案:C``);
  LaTeX ``\\text{…}``, ``\\textbf{…}``, ``\\mathrm{…}``, ``\\mathbf{…}`` wrappers, ``$`` and ``\\(…\\)`` are
  dropped; markdown emphasis (``*``, ``_``, `````, ``#``) is removed.

Then, on that text, in order:

1. **Structured answers** — ``<answer>X</answer>``, ``\\boxed{X}``, GLM's ``<|begin_of_box|>X<|end_of_box|>``
  (the last one that names a choice wins; its content may be ``C: option text``), a JSON object's
  ``answer``/``final_answer``/``choice`` field.
2. **Answer statements** — an answer cue, a verb, then the letter: "the answer is X", "Answer: X",
   "Final answer: X", "I'd go with X", "option X is correct", a correction ("Actually, it's X"), a last line
   holding only the letter; and the same in other languages: Chinese 答案是X / 答案为X / 正确答案：X / 选X /
   故选X / 我选择X / X是正确答案 / 选项X正确, Japanese 答えはXです / 正解は(X) / 回答：X, Korean 정답은 X입니다 /
   답: X / X가 정답, Spanish "La respuesta (correcta) es (la) X", Portuguese "A resposta correta é a (alternativa)
   X", French "La bonne réponse est X", German "Die richtige Antwort ist X" / "Antwort: X", Russian
   "(Правильный) ответ: X", Arabic "الإجابة (الصحيحة) هي X" (with the Arabic option letters أ ب ج د read as
   A–D). A statement names the letter it *starts* with: "The answer is B, since option A is the other
   woman" states B. "Final answer" statements outrank the others; among equals the last one wins (models
   correct themselves). A negated statement ("The answer is not A", 答案不是A, 答えはAではありません) states
   nothing, unless it goes on "…not A but C" (→ C).
3. With no statement: a letter **opening** the response before punctuation, a line break or a copula
   ("C. A pretty dress", "D, because…", "Bです"), unless several lines open with different letters (an
   enumeration of options) or a second letter follows it ("(A)(B)"); then a letter in brackets, "(C)",
   when it is the only bracketed letter; then the text of exactly one option (when ``options`` are given,
   the part after the last answer cue tried first), compared without articles and with number words as
   digits ("the blue jacket" is option "a blue jacket", "three people" is "3 people"); last, a letter ending
   the response right after a sentence break, a colon or "is/pick/so/因此…" ("…so it's D."), but not as part of
   a name ("…rich in vitamin D." is not an answer).

An answer that names two or more letters ("Answer: (B) or (C)", "either A or D", "B/C", "(A)(B)", 答案是B、C,
"B o C") or none is unparseable: ``None``, which the metric scores as wrong and counts as a parse failure.
A negated letter ("It is not A.", "not (B)") is never read as the answer, and neither is option text that is
negated ("He is not a stage actor"). Only valid choice letters are returned: "The correct answer is (B)" is
B, never T; an article "A" ("A pretty dress…") is not a letter; a Cyrillic letter after "Ответ:" is no
answer (В is the third Cyrillic letter and looks like a Latin B). The reader's work grows linearly with the
text (a response of 40,000 ``<think>`` tags is read as fast as any other of its length).

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
>>> extract_choice("答案是 C"), extract_choice("정답은 b입니다."), extract_choice("La respuesta correcta es la B.")
('C', 'B', 'B')
>>> extract_choice("\\\\boxed{\\\\text{D}}"), extract_choice("<|begin_of_box|>A<|end_of_box|><|im_end|>")
('D', 'A')
>>> extract_choice("She wears the blue jacket.", options=["a red coat", "a blue jacket", "a hat", "a scarf"])
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
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

# --- the part of the output that is the answer ---------------------------------------------------------------

# Opening and closing markers of reasoning blocks, by model family; any opener pairs with any closer.
_THINK_OPENERS = ("<think>", "<thinking>", "◁think▷", "<seed:think>", "<|channel>")
_THINK_CLOSERS = ("</think>", "</thinking>", "◁/think▷", "</seed:think>", "<channel|>")
_THINK_MARK = re.compile("|".join(re.escape(mark) for mark in _THINK_OPENERS + _THINK_CLOSERS), re.IGNORECASE)
_CLOSERS = frozenset(mark.lower() for mark in _THINK_CLOSERS)
_HARMONY_FINAL = re.compile(r"<\|channel\|>\s*final\s*<\|message\|>")
_HARMONY_OTHER = re.compile(r"<\|channel\|>\s*(?:analysis|commentary)")
# Where a turn ends: end-of-turn tokens, and a line that opens the next turn (a model talking to itself).
_END_TOKEN = re.compile(
    r"<\|(?:im_end|endoftext|eot_id|end|return|end_of_text|endofturn|im_start|end▁of▁sentence)\|>|</s>"
    r"|<end_of_turn>|<eos>"
)
_ASSISTANT_HEADER = re.compile(r"\s*<\|im_start\|>\s*assistant\b")
_NEXT_TURN = re.compile(r"(?m)^[ \t]*(?:Human|User|USER|HUMAN)[ \t]*:")
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z_▁]+\|>")
_BOX_OPEN, _BOX_CLOSE = "<|begin_of_box|>", "<|end_of_box|>"
_LATEX_WRAPPER = re.compile(r"\\(?:text(?:bf|rm|it|tt|sf)?|math(?:rm|bf|it|tt|sf)|emph|bm)\s*\{([^{}]*)\}")
_LATEX_MATH = re.compile(r"\\[()\[\]]|\\\$|\$")
_MARKUP = re.compile(r"[*_`#]+")
_SPACES = re.compile(r"[^\S\n]+")
_LINE_BREAKS = re.compile(r" ?\n\s*")


def strip_thinking(text: str) -> str:
    """Drop reasoning blocks (``<think>…</think>`` and the other families'); an unclosed block hides everything
    after it; a lone closing tag keeps only what follows it. One pass over the markers: linear in the text."""
    pieces: list[str] = []
    kept_from = 0
    open_at: int | None = None
    for mark in _THINK_MARK.finditer(text):
        if mark.group().lower() not in _CLOSERS:
            if open_at is None:
                pieces.append(text[kept_from : mark.start()])
                open_at = mark.start()
        elif open_at is not None:
            pieces.append(" ")
            kept_from, open_at = mark.end(), None
        else:  # a closing tag with nothing open: what came before it was reasoning
            pieces, kept_from = [], mark.end()
    if open_at is None:
        pieces.append(text[kept_from:])
    return "".join(pieces)


def _final_channel(text: str) -> str:
    """gpt-oss Harmony output: only the ``final`` channel is the answer (none written: no answer)."""
    if "<|channel|>" in text:
        finals = list(_HARMONY_FINAL.finditer(text))
        if finals:
            return text[finals[-1].end() :]
        if _HARMONY_OTHER.search(text):
            return ""
    elif text.startswith("analysis") and text[8:9].isupper():  # decoded with special tokens skipped
        at = text.rfind("assistantfinal")
        if at >= 0:
            return text[at + len("assistantfinal") :]
    return text


def _answer_text(text: str) -> str:
    """The part of a raw output that is the answer, in one normal form (see the module rules)."""
    ascii_text = text.isascii()
    if not ascii_text:
        text = unicodedata.normalize("NFKC", text)
    text = _final_channel(text)
    if "<" in text or not ascii_text:
        text = strip_thinking(text)
    header = _ASSISTANT_HEADER.match(text) if "<|im_start|>" in text else None
    if header:  # a decode that kept the template's header: the turn starts after it
        text = text[header.end() :]
    for pattern, mark in ((_END_TOKEN, "<"), (_NEXT_TURN, ":")):
        end = pattern.search(text) if mark in text else None
        if end:
            text = text[: end.start()]
    if "\\" in text:
        for _ in range(3):  # \textbf{\text{B}}: one wrapper a pass
            text, count = _LATEX_WRAPPER.subn(r"\1", text)
            if not count:
                break
    if "$" in text or "\\" in text:
        text = _LATEX_MATH.sub(" ", text)
    if "<|" in text or "<｜" in text:
        text = text.replace(_BOX_OPEN, "<answer>").replace(_BOX_CLOSE, "</answer>")
        text = _SPECIAL_TOKEN.sub(" ", text)
    if "*" in text or "_" in text or "`" in text or "#" in text:
        text = _MARKUP.sub("", text)
    if not ascii_text or "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _LINE_BREAKS.sub("\n", text)
    return text.strip()


def strict_choice(text: str | None, letters: Sequence[str] = DEFAULT_LETTERS) -> str | None:
    """The letter when the response ends with ``</think>`` and then exactly one upper-case choice letter, else None.

    >>> strict_choice("<think>r</think>\\nThe answer is not A."), strict_choice("<think>r</think>\\nd")
    (None, None)
    """
    if not text:
        return None
    match = _STRICT.search(text)
    return match.group(1) if match and match.group(1) in letters else None


_STRICT = re.compile(r"</think>\s*([A-Z])\s*\Z")

# --- statements ----------------------------------------------------------------------------------------------

_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"  # CJK, kana, Hangul: no part of a Latin word
_ARABIC_LETTERS = "أبجده"  # the Arabic option letters for A, B, C, D, E (as Arabic MCQs label them)
_ARABIC_CHAR = re.compile(r"[\u0621-\u064a]")
_HOMOGLYPH = re.compile(r"[\u0391-\u03a9\u0410-\u044f\u0401\u0451](?![\w])")  # a lone Greek or Cyrillic letter

# The cue that introduces a stated choice; group "final" marks the top-ranked "final answer" cues. Cues in
# alphabets with word boundaries, and (scanned only in text beyond ASCII) cues in Chinese, Japanese, Korean.
_CUE = re.compile(
    r"(?i:\b(?:(?P<final>final\s+(?:answer|choice|option|selection))"
    r"|(?:correct|right|best)\s+(?:answer|option|choice|letter|one)"
    r"|answer"
    r"|my\s+(?:choice|pick|selection)"
    r"|i(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|answer|guess|say)"
    r"|(?:actually|wait|correction|on\s+second\s+thought)[,:]?\s+(?:it(?:'s|\s+is|\s+must\s+be)|i(?:t|'d)\s+say))\b)"
    r"|<answer>"
)
# Cues in other languages written with word boundaries, scanned only when one of their stems occurs.
_WORLD_CUE = re.compile(
    r"(?i:\b(?:(?P<final>respuesta\s+final|resposta\s+final|r[ée]ponse\s+finale|endg[üu]ltige\s+antwort"
    r"|окончательный\s+ответ|(?:ال)?[إا]جابة\s+(?:ال)?نهائية)"
    r"|respuesta(?:\s+correcta)?|opci[oó]n\s+correcta|(?:yo\s+)?(?:elijo|escojo|selecciono)"
    r"|resposta(?:\s+correta)?|alternativa\s+correta|op[çc][ãa]o\s+correta|(?:eu\s+)?escolho"
    r"|(?:bonne\s+)?r[ée]ponse(?:\s+(?:correcte|exacte))?|je\s+choisis"
    r"|(?:richtige|korrekte)\s+(?:antwort|option)|antwort|ich\s+w[äa]hle"
    r"|(?:правильный|верный)\s+(?:ответ|вариант)|ответ|я\s+выбираю"
    r"|(?:ال)?[إا]جابة(?:\s+(?:ال)?صحيحة)?|(?:ال)?جواب(?:\s+(?:ال)?صحيح)?|(?:ال)?خيار\s+(?:ال)?صحيح)\b)"
)
_WORLD_STEM = re.compile(
    "respuesta|opci|elijo|escojo|selecciono|resposta|alternativa|escolho|ponse|choisis|antwort|hle|ответ|вариант"
    "|выбираю|جابة|جواب|خيار"
)
_CJK_CUE = re.compile(
    r"(?P<final>最终答案|最終答案|最終的な答え|최종\s*(?:정답|답변|답))"
    r"|(?:正确|正確)(?:答案|选项|選項)|答案|(?:所以|故|因此)答|(?<![回解])答(?=\s*[:])|(?:回答|解答)(?=\s*[:])"
    r"|(?:(?:我|故|应|應|应该|應該|所以|因此|则|則|即)?(?:选择|選擇|选|選))(?![项項手出择擇択])"
    r"|(?:正しい)?答え|正解|(?:正しい)?選択肢(?=は)"
    r"|(?:올바른\s*)?(?:정답|답변)|(?<![대])답(?=\s*[은는:])"
)


def _cues(text: str) -> list[re.Match[str]]:
    """Every answer cue in ``text``, in order of position."""
    lowered = text.lower()
    ascii_text = text.isascii()
    found = list(_CUE.finditer(text)) if not ascii_text or any(w in lowered for w in _CUE_WORDS) else []
    if _WORLD_STEM.search(lowered):
        found += _WORLD_CUE.finditer(text)
    if not ascii_text:
        found += _CJK_CUE.finditer(text)
    if len(found) > 1:
        found.sort(key=lambda match: match.start())
    return found


# What may sit between a cue and the letter: a verb ("is", "would be", ":", 是, は, 은) and a filler word.
_FILLER = (
    r"(?:\b(?:here|then|therefore|thus|clearly|probably|likely|most\s+likely|definitely|must|should|would|will"
    r"|seems\s+to|appears\s+to)\b\s*)*"
)
_VERB = re.compile(
    rf"(?i:\s*{_FILLER}(?:\b(?:is|be|was|es|ser[ií]a|ser[áa]|é|est|serait|sera|ist|lautet|w[äa]re|это|является"
    r"|هي|هو)\b|[:=\-–—>]|→)?"
    rf"\s*{_FILLER}(?:\b(?:is|be)\b)?\s*(?:[:\-–—]\s*)?"
    r"(?:(?:应该|應該|应|應|可能|就)?(?:是|为|為|乃|选|選)(?:择|擇)?|は|が|은|는|이|:)?\s*(?::\s*)?)"
)
_NEGATION = re.compile(
    r"(?i:\s*(?:\b(?:certainly|surely)\s+)?(?:\bnot\b|n't\b|\bnever\b|\bno\b|\bnão\b|\bnicht\b|\bне\b|\bليست?\b"
    r"|n'est\s+pas\b|\bpas\b|不是|不为|不為|不选|不選|并非|並非|不))"
)
# After the letter: a negation that follows it (Japanese, Korean, Chinese word order).
_NEGATION_AFTER = re.compile(
    r"\s*(?:では(?:な|あり)|じゃな|(?:가|이)\s*아[니닙냐닌]|不是|不对|不對|不正确|不正確|是错|是錯|错|錯)"
)
_NEGATED_CJK_CUE = re.compile(r"(?:不|没|沒|别|別|非|并非|並非)$")
_BUT = re.compile(
    r"(?i:\s*[,;]?\s*(?:but|rather|it's|it\s+is|instead|sino|mas|mais|sondern|а|而是|而)\b[\s,]*(?:rather\s+)?)"
)
_HEDGE = re.compile(
    r"(?i:\s*(?:,|/|&|\bor\b|\band\b|\bthen\b|\bversus\b|\bvs\.?|\bo\b|\by\b|\bou\b|\be\b|\bet\b|\boder\b|\bund\b"
    r"|\bили\b|\bи\b|\bأو\b|或者|或|还是|還是|和|与|與|及|、|또는|이나|나|와|과|または|か|と)"
    r"\s*(?:maybe\s+|perhaps\s+|possibly\s+)?|\s*(?=[(\[]\s*[A-Za-z]\s*[)\]]))"
)
_OPTION_WORD = re.compile(
    r"(?i:\s*(?:(?:\b(?:either|both|option|choice|letter|opci[oó]n|op[çc][ãa]o|alternativa|lettre|letra|variante?"
    r"|вариант|(?:ال)?خيار)\b|选项|選項|選択肢|옵션|보기)\s*"
    r"|\b(?:la|el|le|a|o|the)\s+(?=[(\[\"'“‘«「]?[A-Za-z](?![A-Za-z])|opci|op[çc]|alternativ|option|letra|lettre))*"
    r"[:#]?\s*)"
)
_OPEN_QUOTE = "([\"'“‘«「『【"
_CLOSE_QUOTE = ")]\"'”’»」』】"
# A connective after an upper-case "A" keeps it a letter ("A because…"); any other lower-case word makes it an article.
_CONNECTIVES = frozenset(
    "because since as for given and or but which while whereas so then is was seems would could should "
    "from in on with based according".split()
)
_WINDOW = 48  # what the look-behind checks read before a match (whitespace is collapsed first)
_NEGATED_BEFORE = re.compile(
    r"(?i:(?:\bnot|n't|\bnever|\bexcept|\bexcluding|\brule\s+out|\bruling\s+out|\beliminate|\bexclude|\bno|\bnão"
    r"|\bpas|\bnicht|\bkein|\bне|\bкроме|\bsauf|\baußer|\bexcepto|\bexceto|\bليس|\bليست|不是|不选|不選|并非|並非|除了|排除|不)"
    r"\s*(?:\b(?:option|choice|letter)\b\s*|选项|選項)?[(\[\"'“‘]?\s*)$"
)
_HEDGED_BEFORE = re.compile(
    r"(?i:(?<![A-Za-z])[A-Z][)\]]?\s*(?:[,/&、]|\bor|\band|和|与|與|或|及)\s*(?:\b(?:option|choice)\b\s*|选项|選項)?"
    r"[(\[]?\s*)$"
)
# What may precede a letter that ends the response for it to count as an answer.
_END_CONTEXT = re.compile(
    r"(?i:(?:^|[.!?:;\n=→>\-–—。]|\b(?:is|it's|be|so|thus|hence|therefore|pick|choose|select|answer|option|choice"
    r"|think|believe)\b|因此|所以|故|即|显然|顯然|为|為|是|选|選)\s*[(\[\"'“‘]?\s*)$"
)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_JSON_KEYS = ("answer", "final_answer", "finalanswer", "choice", "option", "letter")
_JSON_FIELD = re.compile(r"(?i)[\"']?(?:final_?answer|answer|choice)[\"']?\s*:\s*[\"']([^\"']*)[\"']")
_TAG = re.compile(r"<answer>|</answer>", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{([^{}]*)\}")

_AMBIGUOUS = "?"  # a statement that names several letters
_NOTHING = "-"  # a declaration that names no choice ("Final answer: E" of four, "Answer: none")
# What a declaration may name instead of a letter that says it chose none: an invalid letter, "none"…
_NO_CHOICE = re.compile(
    r"(?i:(?:[a-z]|none(?:\s+of\s+(?:the\s+above|them|these|the\s+options))?|unknown|unclear|n/?a|null|nothing"
    r"|not\s+sure|undetermined|cannot\s+be\s+determined))"
    r"(?=\s*(?:[.!;\n)]|$))"
)


@dataclass(frozen=True)
class _Letters:
    """One set of choice letters and the patterns that name them (compiled once per set)."""

    upper: str
    lower: str
    post_statement: re.Pattern[str]  # "option C is correct", "(B) is the right answer", "D is the one."
    cjk_post_statement: re.Pattern[str]  # "C是正确答案", "选项D正确", "B가 정답", "Bが正解"
    opening: re.Pattern[str]
    line_opener: re.Pattern[str]
    option_label: re.Pattern[str]  # "Option B:" anywhere: one of several labels of an enumeration
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
            rf"(?:(?i:\b(?:option|choice|letter)\s*)[(\[\"'“‘]?([{upper}{lower}])|[(\[\"'“‘]?([{upper}]))"
            r"[)\]\"'”’]?\s+(?:is|seems)\s+(?i:(?:the\s+)?(?:correct|right|best|answer\b)|the\s+one\s*(?:[.!]|$))"
        ),
        cjk_post_statement=re.compile(
            rf"(?<![A-Za-z])[(\[]?([{upper}])[)\]]?\s*(?:번\s*)?"
            r"(?:(?:是|為|为)?\s*(?:正确|正確|对的|對的|对|對)(?!吗|嗎)|(?:가|이)\s*(?:정답|맞)|が\s*(?:正解|正しい))"
        ),
        opening=re.compile(
            rf"\s*(?:(?i:option|choice|opci[oó]n|op[çc][ãa]o|alternativa|вариант)\s+|(?:选项|選項|옵션|보기)\s*)?"
            rf"[(\[]?([{upper}])"
            r"(?:[)\]]?\s*(?:[.,:;)\-–—。、，]|です|でしょう|입니다|이다|번|$)|[)\]])",
            re.MULTILINE,
        ),
        line_opener=re.compile(rf"(?m)^\s*[(\[]?([{upper}])[.):\]]"),
        option_label=re.compile(rf"(?i:\b(?:option|choice)\s+|选项|選項|옵션)[(\[]?(?-i:([{upper}]))[)\]]?\s*[:：.]"),
        bracketed=re.compile(rf"[(\[]([{upper}{lower}])[)\]]"),
        ending=re.compile(rf"(?<![A-Za-z0-9'’])([{upper}])[\s.!)\]\"'”’。！]*\Z"),
    )


# Words without which no _CUE can match in ASCII text (a cheap test that spares scanning most texts with it).
_CUE_WORDS = (
    "answer", "correct", "right", "best", "choice", "pick", "selection", "choose", "select", "go", "guess", "say",
    "option", "actually", "wait", "correction", "thought",
)  # fmt: skip
_LONE_LETTER = re.compile(r"\s*[(\[]?\s*(\w)\s*[)\]]?\s*[.:。]?\s*")
_LOWER_LETTER_END = re.compile(rf"\s*(?:[.,;:!?)\]\"'”’/。、]|\bor\b|\band\b|$)|[{_CJK}]")
_ARTICLE_WORD = re.compile(r" +([a-z]+)")


def _may_hold_cue(text: str) -> bool:
    """False only when ``text`` cannot contain a ``_CUE``: in ASCII text every cue holds one of ``_CUE_WORDS``.
    Text beyond ASCII is always scanned (case-insensitive matching folds "ſ" to "s"; cues in other scripts)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _CUE_WORDS)


def _is_word_char(char: str) -> bool:
    """Whether ``char`` continues a word written in the Latin (or Greek, Cyrillic, Arabic) alphabet."""
    return char.isalnum() and not ("\u2e80" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af")


def _letter_at(text: str, pos: int, letters: _Letters) -> tuple[str, int] | None:
    """A choice letter written at ``pos`` (in quotes/brackets allowed) that is not part of a word, and its end."""
    i = pos
    while i < len(text) and text[i] in _OPEN_QUOTE + " \t":
        i += 1
    if i >= len(text):
        return None
    char = text[i]
    if char in _ARABIC_LETTERS:  # an Arabic option letter, alone: أ ب ج د are A B C D
        index = _ARABIC_LETTERS.index(char)
        if index >= len(letters.upper) or _ARABIC_CHAR.match(text, i + 1):
            return None
        char = letters.upper[index]
    elif letters.of(char) is None:
        return None
    else:
        after = text[i + 1 : i + 2]
        if after and (_is_word_char(after) or (after in "'’" and text[i + 2 : i + 3].isalpha())):
            return None  # "Bob", "A's"
        rest = text[i + 1 :]
        if char in letters.lower:
            # a lower-case letter counts only when no word but a connective follows it ("answer is b because…",
            # "answer is a." yes; "answer is a tricky one" no)
            word = _ARTICLE_WORD.match(rest)
            if not _LOWER_LETTER_END.match(rest) and not (word and word.group(1) in _CONNECTIVES):
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
        # a lone Cyrillic or Greek letter where the letter should be: which option it means cannot be told
        if _HOMOGLYPH.match(text, start):
            return _AMBIGUOUS
        return _NOTHING if _NO_CHOICE.match(text, start) else None
    if _NEGATION_AFTER.match(text, first[1]):
        return None  # 答えはAではありません: "the answer is not A"
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
    value = _TAG.sub(" ", value).strip()
    boxed = _BOXED.fullmatch(value)
    if boxed:
        value = boxed.group(1).strip()
    stated = _stated_value(value, 0, letters)
    if stated is None:  # "\boxed{Answer: G}", "<answer>The answer is c.</answer>"
        statements = _statements(value, letters)
        if statements:
            best = max(rank for rank, _, _ in statements)
            stated = max((pos, v) for rank, pos, v in statements if rank == best)[1]
    if stated is not None:
        return stated
    if options:
        return match_option_text(value, options, keys)
    return None


def _is_answer_slot(content: str) -> bool:
    """Whether a container that names no choice was meant to hold the answer ("Z", "none", empty), rather than
    being incidental markup such as a boxed formula in the reasoning."""
    content = _TAG.sub(" ", content).strip()
    return len(content) <= 16 and "\\" not in content


def _tagged_values(body: str) -> list[tuple[int, str]]:
    """``(position, content)`` of ``<answer>…</answer>`` tags and ``\\boxed{…}``, in order (one pass over the tags)."""
    found: list[tuple[int, str]] = []
    open_end: int | None = None
    for tag in _TAG.finditer(body):
        if tag.group()[1] != "/":
            if open_end is None:
                open_end = tag.end()
        elif open_end is not None:
            found.append((open_end, body[open_end : tag.start()]))
            open_end = None
    if "\\" in body:
        found += [(match.start(), match.group(1)) for match in _BOXED.finditer(body)]
    return sorted(found, key=lambda pair: pair[0])


_POST_WORDS = ("correct", "right", "best", "answer", "one")


def _statements(body: str, letters: _Letters) -> list[tuple[int, int, str]]:
    """Every answer statement as ``(rank, position, value)``; rank 2 for "final answer", 1 otherwise."""
    found = []
    for cue in _cues(body):
        if not cue.group().isascii() and _NEGATED_CJK_CUE.search(body, max(0, cue.start() - 2), cue.start()):
            continue  # 不选A: "not A"
        value = _stated_value(body, cue.end(), letters)
        if value is not None:
            found.append((2 if cue.group("final") else 1, cue.start(), value))
    lowered = body.lower()
    if ("is" in body or "seems" in body) and any(word in lowered for word in _POST_WORDS):
        # "option C is correct", "(B) is the right answer", "D is the one."
        for match in letters.post_statement.finditer(body):
            if not _NEGATED_BEFORE.search(body[max(0, match.start() - _WINDOW) : match.start()]):
                found.append((1, match.start(), (match.group(1) or match.group(2)).upper()))
    if not body.isascii():  # "C是正确答案", "选项D正确", "B가 정답입니다", "Bが正解"
        for match in letters.cjk_post_statement.finditer(body):
            before = body[max(0, match.start() - _WINDOW) : match.start()]
            if _HEDGED_BEFORE.search(before):
                found.append((1, match.start(), _AMBIGUOUS))
            elif not _NEGATED_BEFORE.search(before):
                found.append((1, match.start(), match.group(1)))
    return found


def _last_line_letter(body: str, letters: _Letters) -> str | None:
    """The letter a last line holding only a letter gives; ``_AMBIGUOUS`` when the line above is another one."""
    lines = body.splitlines()
    lone = _LONE_LETTER.fullmatch(lines[-1]) if lines else None
    if not lone or not letters.of(lone.group(1)):
        return None
    letter = lone.group(1).upper()
    above = _LONE_LETTER.fullmatch(lines[-2]) if len(lines) > 1 else None
    if above and letters.of(above.group(1)) and above.group(1).upper() != letter:
        return _AMBIGUOUS  # "…\nB\nD": two answers
    return letter


def _stated_answer(body: str, letters: _Letters, options: Sequence[str] | None, keys: Sequence[str]) -> str | None:
    """What the response's explicit evidence (answer containers, statements, a last lone letter) names.

    The last answer container decides, unless it names no choice (then there is no answer, or, when statements
    follow it, they decide) or a later statement or last line names another letter (two answers: none).
    Without containers the best-ranked, last statement decides; a last lone letter that disagrees with it
    makes the answer unreadable.
    """
    containers = []
    for start, content in _tagged_values(body):
        value = _value_of(content, letters, options, keys)
        if value is not None or _is_answer_slot(content):
            containers.append((start, value))
    if not containers and "{" in body:
        value = _json_value(body, letters, options, keys)
        if value is not None:
            containers.append((0, value))
    statements = _statements(body, letters)
    last_line = _last_line_letter(body, letters)
    if containers:
        start, value = containers[-1]
        later_statements = [(rank, pos, v) for rank, pos, v in statements if pos > start]
        if value is None or value in (_AMBIGUOUS, _NOTHING):
            if not later_statements:
                return _NOTHING  # "<answer>B</answer> <answer>Z</answer>": the final answer is no choice
            statements = later_statements  # "\boxed{2} people, so the answer is B": the box was a count
            containers = []
    if containers:
        later = {v for _, pos, v in statements if pos > start and v not in (_NOTHING,)}
        if last_line is not None:
            later.add(last_line)
        return value if later <= {value} else _AMBIGUOUS
    if statements:
        best = max(rank for rank, _, _ in statements)
        value = max((pos, v) for rank, pos, v in statements if rank == best)[1]
        if last_line is not None and last_line != value and value not in (_AMBIGUOUS, _NOTHING):
            return _AMBIGUOUS  # "The answer is B.\n(D)"
        return value
    return last_line


def _opening_letter(body: str, letters: _Letters) -> str | None:
    """A letter that opens the response before punctuation or a line break, unless it starts an enumeration."""
    match = letters.opening.match(body)
    if match is None:
        return None
    after = match.end(1) + (1 if body[match.end(1) : match.end(1) + 1] in ")]" else 0)
    for at in (match.end(1), after):
        hedge = _HEDGE.match(body, at)
        if hedge:
            second = _letter_at(body, _OPTION_WORD.match(body, hedge.end()).end(), letters)
            if second is not None and second[0] != match.group(1):
                return None  # "A, B and C are wrong…", "(A)(B)"
    openers = set(letters.line_opener.findall(body)) | set(letters.option_label.findall(body))
    if openers - {match.group(1)}:
        return None  # "A. …\nB. …", "Option A: no. Option B: yes.": the options are being enumerated
    return match.group(1)


def _bracketed_letter(body: str, letters: _Letters) -> str | None:
    """The letter of "(X)"/"[X]" mentions when exactly one letter is bracketed (and not negated)."""
    seen = set()
    for match in letters.bracketed.finditer(body):
        letter = match.group(1).upper()
        if letter in seen:
            continue
        if not _NEGATED_BEFORE.search(body[max(0, match.start() - _WINDOW) : match.start() + 1]):
            seen.add(letter)
            if len(seen) > 1:
                return None
    return seen.pop() if len(seen) == 1 else None


def _ending_letter(body: str, letters: _Letters) -> str | None:
    """An upper-case letter ending the response right after a sentence break, a colon or 'is/so/pick…'."""
    match = letters.ending.search(body)
    if match is None:
        return None
    before = body[max(0, match.start() - _WINDOW) : match.start()]
    if _NEGATED_BEFORE.search(before) or not _END_CONTEXT.search(before):
        return None
    return match.group(1)


# --- option text -----------------------------------------------------------------------------------------------

_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_DETERMINERS = frozenset("the this that which each every any no some another only".split())


def _normalise(text: str) -> str:
    """Words of ``text`` in lower case without punctuation and articles, number words as digits."""
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    out: list[str] = []
    tens = False  # the last word kept was a tens number written as a word ("twenty")
    for i, word in enumerate(words):
        if word in _ARTICLES and i + 1 < len(words):
            continue
        value = _NUMBER_WORDS.get(word)
        if value is not None and not (word == "one" and i and words[i - 1] in _DETERMINERS):
            if tens and 0 < value < 10:
                out[-1] = str(int(out[-1]) + value)
                tens = False
                continue
            out.append(str(value))
            tens = value >= 20
            continue
        out.append(word)
        tens = False
    return " ".join(out)


_NEGATED_TEXT = re.compile(r"(?:\bnot|\bn t|\bnever)(?: [a-z]+ing)?(?: (?:a|an|the))? $")


def match_option_text(text: str, options: Sequence[str], letters: Sequence[str]) -> str | None:
    """The letter of the one option whose text appears in ``text`` (``None`` if none or several do).

    Texts are compared without case, punctuation or articles and with number words as digits ("the blue
    jacket" is option "a blue jacket", "three people" is "3 people"). An option that only appears inside a
    longer matching option ("calm" in "calm expression") does not count, nor does a negated mention ("not a
    stage actor"). The text after the last answer cue is tried first.
    """
    cues = _cues(text)
    candidates = [text[cues[-1].end() :], text] if cues else [text]
    needles = [(letter, _normalise(option)) for letter, option in zip(letters, options, strict=False)]
    for candidate in candidates:
        haystack = f" {_normalise(candidate)} "
        spans = []
        for letter, needle in needles:
            if not needle:
                continue
            for match in re.finditer(re.escape(f" {needle} "), haystack):
                if not _NEGATED_TEXT.search(haystack[max(0, match.start() - 40) : match.start() + 1]):
                    spans.append((match.start(), match.end(), letter))
        # drop a span inside a strictly longer one: sorted by start, longer first, a running widest end decides
        kept = set()
        widest_end, widest_start = -1, -1
        for start, end, letter in sorted(spans, key=lambda span: (span[0], -span[1])):
            inside = widest_end > end or (widest_end == end and widest_start < start)
            if not inside:
                kept.add(letter)
                if len(kept) > 1:
                    return None
            if end > widest_end:
                widest_end, widest_start = end, start
        if len(kept) == 1:
            return kept.pop()
    return None


def extract_choice(
    text: str | None, options: Sequence[str] | None = None, letters: Sequence[str] | None = None
) -> str | None:
    """The option letter a response chooses, or ``None`` when it cannot be read (see the module rules).

    ``letters`` defaults to A–D (or the first ``len(options)`` letters when ``options`` are given).
    """
    if text is None:
        return None
    if options is not None and not isinstance(options, list | tuple):
        options = list(options)  # a numpy array or Series of option texts
    if letters is None:
        letters = tuple(string.ascii_uppercase[: len(options)]) if options else DEFAULT_LETTERS
    keys = tuple(letters)
    letter_set = _letter_set("".join(keys))
    body = _answer_text(str(text))
    if not body:
        return None

    value = _stated_answer(body, letter_set, options, keys)
    if value is not None:
        return None if value in (_AMBIGUOUS, _NOTHING) else value

    for reader in (_opening_letter, _bracketed_letter):
        found = reader(body, letter_set)
        if found:
            return found
    if options:
        found = match_option_text(body, options, keys)
        if found:
            return found
    return _ending_letter(body, letter_set)
