"""Committed target text cut into phrases for the TTS, each one ready to be spoken.

The TTS speaks one phrase at a time and can only start once the phrase's text is complete, so a phrase should
be a natural prosodic unit: long enough to sound natural (a sentence or a clause, not a word), short enough that
the first audio comes early and the phrase fits a TTS slot. `PhraseSplitter` cuts the growing committed text
at sentence ends, then at clauses, and only when a phrase would grow past its maximum at the best word boundary.
Every phrase goes through `speakable`, which writes digits, times, money, units and symbols out as words of the
target language, because a speech model reads "12:30", "3,5 %" or "2024年" unreliably.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from typing import NamedTuple

from model.asr import LANGUAGES

# (min_chars, max_chars). Speech runs at about 14 characters a second in English and German, 4.5 Han characters in
# Mandarin and 8.5 Hangul characters (6.5 syllables and their spaces) in Korean, so each pair is about 1.5 s of speech
# (a few words: enough for natural prosody) to 4.5 s. The TTS starts a phrase only once its text is complete, so
# while the translation streams without punctuation the listener waits up to max_chars: 4.5 s keeps that near a
# human interpreter's lag, and a clause that long still sounds natural.
_LIMITS = {"en": (20, 64), "de": (24, 72), "zh": (7, 22), "ko": (12, 38)}

_SENTENCE_MARKS = ".!?…。！？‼⁇⁈⁉"
_CLAUSE_MARKS = ",;:，；：、"
_MARKS = _SENTENCE_MARKS + _CLAUSE_MARKS
_WIDE_MARKS = "…。！？‼⁇⁈⁉，；：、"  # never part of a number or an abbreviation
_CLOSERS = "\"'”’»›)]}）］｝」』》〉】"
_OPENERS = "\"'“‘«‹([{（［｛「『《〈【"

# A period after these does not end a sentence ("Dr. Smith", "z. B. Äpfel", "3 Mio. Euro").
_ABBREVIATIONS = {
    "en": {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "cf", "approx", "fig"},
    "de": {
        "z.b", "d.h", "u.a", "bzw", "ca", "dr", "prof", "nr", "hr", "fr", "str", "evtl", "ggf", "inkl", "vgl",
        "z.t", "mio", "mrd", "st", "bspw", "sog", "zzgl", "abs",
    },
}  # fmt: skip
# ...and after these only when a capital follows ("at 5 p.m. Then", but "etc. and").
_FINAL_ABBREVIATIONS = {
    "en": {"etc", "inc", "ltd", "co", "corp", "jr", "sr", "a.m", "p.m", "u.s", "u.k", "no"},
    "de": {"usw", "etc", "u.ä", "chr"},
}
_SENTENCE_ABBREVIATIONS = {"etc.", "usw."}  # written out, they keep their period when it ended the sentence
_CONJUNCTIONS = {
    "en": {"and", "but", "or", "so", "because", "although", "though", "while", "when", "whereas", "which", "who",
           "where", "if", "unless", "until", "since"},
    "de": {"und", "aber", "oder", "sondern", "denn", "doch", "dass", "weil", "wenn", "ob", "obwohl", "damit", "als",
           "nachdem", "bevor", "während", "sodass", "falls", "da", "indem", "seit", "seitdem", "bis", "welche",
           "welcher", "welches"},
}  # fmt: skip
_PREPOSITIONS = {
    "en": {"in", "on", "at", "for", "with", "from", "about", "into", "over", "under", "after", "before",
           "during", "without", "through", "between", "against", "across", "along", "around", "behind", "near",
           "toward", "towards", "by"},
    "de": {"in", "im", "an", "am", "auf", "aus", "bei", "beim", "mit", "nach", "von", "vom", "zum", "zur", "für",
           "über", "unter", "um", "gegen", "ohne", "durch", "vor", "hinter", "neben", "zwischen", "wegen", "trotz"},
}  # fmt: skip
_ZH_CONJUNCTIONS = ("但", "而且", "可是", "所以", "因为", "然后", "如果", "虽然", "不过", "或者", "并且", "因此",
                    "于是")  # fmt: skip
_ZH_PARTICLES = "了吧呢啊吗呀嘛"  # sentence-final particles: a pause after them sounds natural
_KO_AUXILIARIES = ("싶", "있", "계", "말")  # after -고 they continue the same verb
_KO_ENDINGS = ("지만", "는데", "은데", "니까", "면서", "어서", "아서", "해서", "고", "며", "면", "서")
_DE_MONTHS = {
    "Januar", "Jänner", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
    "November", "Dezember",
}  # fmt: skip
_DE_BEFORE_ORDINAL = {"am", "im", "vom", "zum", "beim", "zur", "der", "die", "das", "den", "dem", "des", "bis", "ab",
                      "seit"}  # fmt: skip
_DE_DATIVE = {"am", "im", "vom", "zum", "beim", "zur", "dem", "den", "des", "seit", "ab"}


class _Kind(Enum):
    CUT = "cut"  # a sentence or clause end: cut here once the phrase is long enough
    CLAUSE = "clause"  # the best cut in a phrase that grows too long: weak comma, conjunction, clause ending
    PHRASE = "phrase"  # the next best: before a preposition
    PLAIN = "plain"  # any other word boundary
    UNKNOWN = "unknown"  # the text so far cannot tell yet: wait for more


class PhraseSplitter:
    """Cuts one utterance's committed target text into speakable phrases, as the text streams in.

    `push` takes the newly committed text (it may stop mid-word or mid-number) and returns the phrases that are
    complete; `flush` at the end of the utterance returns the rest. A phrase ends at the first sentence or clause
    end once it has `min_chars` characters, and never later than `max_chars`: a phrase that would grow past it is
    cut at its best word boundary (a weak comma, before a conjunction, after a Korean clause ending or a Chinese
    particle; else before a preposition; else the last one). Only a flush emits a phrase shorter than `min_chars`,
    and only a word longer than `max_chars` makes one longer. A cut is made only once the text after it settles it
    ("3." may become "3.5", "Dr." is followed by a name), so the phrases never depend on how the text was chunked.
    The defaults per language are about 1.5 s to 4.5 s of speech (see `_LIMITS`). Phrases come out through
    `speakable`, ready for the TTS.
    """

    def __init__(self, language: str, *, min_chars: int | None = None, max_chars: int | None = None) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}: expected one of {', '.join(LANGUAGES)}")
        default_min, default_max = _LIMITS[language]
        self.language = language
        self.min_chars = default_min if min_chars is None else min_chars
        self.max_chars = default_max if max_chars is None else max_chars
        if not 0 < self.min_chars < self.max_chars:
            raise ValueError(f"need 0 < min_chars < max_chars, got {self.min_chars} and {self.max_chars}")
        self._abbreviations = _ABBREVIATIONS.get(language, _ABBREVIATIONS["en"])
        self._final_abbreviations = _FINAL_ABBREVIATIONS.get(language, _FINAL_ABBREVIATIONS["en"])
        self._text = ""

    def push(self, text: str) -> list[str]:
        """Add newly committed text; returns the phrases it completes."""
        self._text = (self._text + text).lstrip()
        return self._take(final=False)

    def flush(self) -> list[str]:
        """The utterance ended: the remaining text, as phrases."""
        return self._take(final=True)

    def reset(self) -> None:
        """Forget the pending text: a new utterance starts."""
        self._text = ""

    def _take(self, final: bool) -> list[str]:
        phrases = []
        while self._text:
            end = self._cut(self._text, final)
            if end is None:
                break
            phrase = speakable(self._text[:end].strip(), self.language)
            self._text = self._text[end:].lstrip()
            if any(char.isalnum() for char in phrase):  # a stray quote or dash is not worth a TTS call
                phrases.append(phrase)
        return phrases

    def _cut(self, text: str, final: bool) -> int | None:
        """Where the first phrase of `text` ends, or None while that is not settled."""
        best: dict[_Kind, int] = {}  # the last boundary of each kind in reach; a good one in the second half
        for end, kind in self._boundaries(text, final):
            size = len(text[:end].rstrip())
            if size > self.max_chars:
                for choice in (_Kind.CLAUSE, _Kind.PHRASE, _Kind.PLAIN):
                    if choice in best:
                        return best[choice]
                return None if kind is _Kind.UNKNOWN else end  # no boundary in reach: the first one after
            if kind is _Kind.UNKNOWN:
                return None
            if size < self.min_chars:
                continue
            if kind is _Kind.CUT:
                return end
            best[_Kind.PLAIN] = end
            if 2 * size >= self.max_chars:
                best[kind] = end
        return len(text) if final else None

    def _boundaries(self, text: str, final: bool) -> Iterator[tuple[int, _Kind]]:
        """Every place `text` could be cut, in order, with its kind; the first UNKNOWN one ends the list."""
        n = len(text)
        i = 0
        after_mark = False  # the space right after punctuation was judged with the punctuation
        while i < n:
            char = text[i]
            kind: _Kind | None = None
            if char in _MARKS:
                j = i
                while j < n and text[j] in _MARKS:
                    j += 1
                while j < n and text[j] in _CLOSERS:
                    j += 1
                kind = self._punctuation(text, i, j, final)
                if kind is not None:
                    yield j, kind
                if kind is _Kind.UNKNOWN:
                    return
                i, after_mark = j, True
                continue
            if char.isspace():
                if not after_mark and not text[i - 1].isspace():
                    kind = self._space(text, i, final)
            else:
                after_mark = False
                if self.language == "zh" and i > 0 and _joins_han(text[i - 1], char):
                    kind = self._preference(text, i, i, final)
            if kind is not None:
                yield i, kind
                if kind is _Kind.UNKNOWN:
                    return
            i += 1
        yield n, _Kind.CUT if final else _Kind.UNKNOWN

    def _punctuation(self, text: str, i: int, j: int, final: bool) -> _Kind | None:
        """The punctuation text[i:j] (closing quotes included): a cut, or not one (a number, an abbreviation)."""
        n = len(text)
        if j == n:
            return _Kind.CUT if final else _Kind.UNKNOWN
        marks = text[i:j].rstrip(_CLOSERS)
        if any(mark in _WIDE_MARKS for mark in marks):
            return _Kind.CLAUSE if set(marks) == {"、"} else _Kind.CUT  # 、 separates the items of a list
        if _is_han(text[j]):
            return _Kind.CUT
        if not text[j].isspace():
            return None  # 3.5, 1,000, 12:30, e.g.
        k = _skip_spaces(text, j)
        if k == n:
            return _Kind.CUT if final else _Kind.UNKNOWN
        if marks == ".":
            return self._period(text, i, k, final)
        if marks == "," and self.language == "de" and not text[k].islower():
            return _Kind.CLAUSE  # a German clause starts lowercase; a capital or digit is a list ("Äpfel, Birnen")
        return _Kind.CUT

    def _period(self, text: str, i: int, k: int, final: bool) -> _Kind | None:
        """A single period at text[i], followed by spaces and text[k]: a sentence end, or not."""
        word = _word_before(text, i)
        key = word.lower()
        if len(word) == 1 or key in self._abbreviations or ("." in word and key not in self._final_abbreviations):
            return None  # an initial or an abbreviation: "J. K.", "z. B.", "e.g."
        if key in self._final_abbreviations and not text[k].isupper():
            return None
        if self.language == "de" and i > 0 and text[i - 1].isdigit():
            e = _word_end(text, k)
            if e == len(text) and not final:
                return _Kind.UNKNOWN
            if _is_german_ordinal(_word_before_number(text, i), text[k:e]):
                return None  # "am 3. Mai"
        return _Kind.CUT

    def _space(self, text: str, i: int, final: bool) -> _Kind | None:
        """The space at text[i] after a word: a boundary unless a number or symbol touches it ("5 km", "in 2024")."""
        k = _skip_spaces(text, i)
        if k == len(text):
            return None if final else _Kind.UNKNOWN
        before, after = text[i - 1], text[k]
        if not (before.isalpha() or before in _CLOSERS) or not (after.isalpha() or after in _OPENERS):
            return None
        return self._preference(text, i, k, final)

    def _preference(self, text: str, end: int, start: int, final: bool) -> _Kind:
        """How good a cut between text[:end] and text[start:] is, when a long phrase needs one."""
        if self.language == "zh":
            if start + 2 > len(text) and not final:
                return _Kind.UNKNOWN
            after_particle = text[end - 1] in _ZH_PARTICLES and text[start : start + 1] != "解"  # 了解 is one word
            return _Kind.CLAUSE if after_particle or text.startswith(_ZH_CONJUNCTIONS, start) else _Kind.PLAIN
        if self.language == "ko":
            word = text[:end].split()[-1]
            clause_end = word.endswith(_KO_ENDINGS) and not word.endswith("에서")  # 에서 is a place, not a clause
            if word.endswith("고") and text.startswith(_KO_AUXILIARIES, start):
                clause_end = False  # 가고 싶다, 하고 있다: one verb
            return _Kind.CLAUSE if clause_end else _Kind.PLAIN
        e = _word_end(text, start)
        if e == len(text) and not final:
            return _Kind.UNKNOWN
        word = text[start:e].lower()
        if word in _CONJUNCTIONS[self.language]:
            return _Kind.CLAUSE
        return _Kind.PHRASE if word in _PREPOSITIONS[self.language] else _Kind.PLAIN


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


def _joins_han(before: str, after: str) -> bool:
    """Chinese is cut between characters, but not inside a Latin word or a number ("iPhone", "3个")."""
    return (
        before.isalnum()
        and after.isalnum()
        and not (before.isdigit() or after.isdigit())
        and (_is_han(before) or _is_han(after))
    )


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _word_end(text: str, i: int) -> int:
    while i < len(text) and text[i].isalpha():
        i += 1
    return i


def _word_before(text: str, i: int) -> str:
    """The Latin letters and periods just before text[i]: "Dr", "e.g", "z"."""
    start = i
    while start > 0 and text[start - 1].isascii() and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return text[start:i]


def _word_before_number(text: str, i: int) -> str:
    """The word before the number that ends at text[i]: "am" in "am 3."."""
    end = i
    while end > 0 and text[end - 1].isdigit():
        end -= 1
    while end > 0 and text[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    return text[start:end]


def _is_german_ordinal(before: str, after: str) -> bool:
    """Whether "3." between these two words is an ordinal ("am 3. Mai", "die 3. beste") or a sentence end."""
    return after in _DE_MONTHS or after[:1].islower() or before.lower() in _DE_BEFORE_ORDINAL


# --- speakable -----------------------------------------------------------------------------------------------

_CURRENCIES = "$€£¥￥₩"
_UNITS = r"%|km/h|km|kg|cm|mm|°C|°F|°|℃|℉|[$€£¥￥₩]"
_EN_NUMBER = r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?"
_DE_NUMBER = r"\d{1,3}(?:\.\d{3})+(?!\d)(?:,\d+)?|\d+(?:,\d+)?(?!\d|\.\d)|\d+\.\d+"
_DIGIT_CHAIN = re.compile(r"(?<![\d.,-])\d+(?:-\d+){2,}(?![\d-])")  # phone numbers, ISO dates: digit by digit
_RANGE = re.compile(r"(?<=\d)(?:-|\s?[–~～〜]\s?)(?=\d)")
_PER = re.compile(r"(?<=[\d%€$£¥￥₩元])\s?/\s?(?=[^\W\d_])")  # "€/Monat", "10元/天"
_CLOCK = r"(?<![\d:.,])(?P<hour>[01]?\d|2[0-4]):(?P<minute>[0-5]\d)(?![\d:])"
_NEXT_WORD = re.compile(r"\s+([^\W\d_]+)")


class _Amount(NamedTuple):
    """A number as written: its digits without separators, its parts, and what is attached to it."""

    digits: str
    whole: int
    fraction: str  # digits after the decimal separator
    unit: str  # currency, percent, degree or unit symbol, before or after the number
    scale: str  # "million", "Mio.", "万", ...
    negative: bool
    suffix: str  # English "st", "nd", "rd", "th" or a decade's "s"


def _abbreviation_period(m: re.Match[str]) -> str:
    """The period of an abbreviation that also ended its sentence ("..., usw. Dann"), kept as a sentence end."""
    after = m.string[m.end() :]
    return "." if not after.strip() or (m[0] in _SENTENCE_ABBREVIATIONS and re.match(r"\s+[A-ZÄÖÜ]", after)) else ""


class _Speech:
    """How one language reads numbers, times and symbols aloud; `speak` applies it to a phrase."""

    number_pattern = _EN_NUMBER
    scales = r"(?!)"  # words that multiply the number before them
    suffixes = r"(?!)"
    clock = _CLOCK
    joiner = " "
    groups = ", "  # between the digit groups of a phone number
    minus = "minus"
    point = "point"
    to = " to "
    per: str | None = None
    units: dict[str, tuple[str, str, str]] = {}  # symbol -> (before the number, after it for one, after it else)
    symbols: dict[str, str] = {}
    abbreviations: list[tuple[str, str]] = []

    def __init__(self) -> None:
        self._amount_re = re.compile(
            rf"(?:(?<![A-Za-z0-9.,])(?P<sign>[-−]))?(?:(?P<pre>[{_CURRENCIES}])\s?)?(?<!\d)(?P<num>{self.number_pattern})"
            rf"(?:\s?(?P<scale>{self.scales})(?![^\W\d_]))?(?:\s?(?P<post>{_UNITS})(?![A-Za-z]))?"
            rf"(?:(?P<suffix>{self.suffixes})(?![A-Za-z]))?"
        )
        self._clock_re = re.compile(self.clock)
        self._abbreviation_res = [(re.compile(rf"(?<!\w){pattern}"), words) for pattern, words in self.abbreviations]

    def speak(self, text: str) -> str:
        for pattern, words in self._abbreviation_res:
            text = pattern.sub(lambda m, words=words: words + _abbreviation_period(m), text)
        text = self.before_numbers(text)
        text = _DIGIT_CHAIN.sub(lambda m: self.groups.join(self.digits(group) for group in m[0].split("-")), text)
        if self.per is not None:
            text = _PER.sub(self.per, text)
        text = _RANGE.sub(self.to, text)
        text = self._clock_re.sub(self._clock, text)
        text = self._amount_re.sub(self._amount, text)
        for symbol, words in self.symbols.items():
            text = text.replace(symbol, words)
        return re.sub(r"\s+", " ", text).strip()

    def before_numbers(self, text: str) -> str:
        return text

    def cardinal(self, n: int) -> str:
        raise NotImplementedError

    def digit(self, d: int) -> str:
        raise NotImplementedError

    def digits(self, digits: str) -> str:
        return self.joiner.join(self.digit(int(d)) for d in digits)

    def decimal(self, whole: int, fraction: str) -> str:
        return self.joiner.join((self.cardinal(whole), self.point, self.digits(fraction)))

    def time(self, hour: int, minute: int, after: str) -> str:
        raise NotImplementedError

    def parse(self, number: str) -> tuple[int, str]:
        whole, _, fraction = number.replace(",", "").partition(".")
        return int(whole), fraction

    def number(self, amount: _Amount) -> str:
        return self.decimal(amount.whole, amount.fraction) if amount.fraction else self.cardinal(amount.whole)

    def say(self, amount: _Amount, m: re.Match[str]) -> str:
        """The words for one number with what is attached to it; languages add their special readings."""
        return self.compose(amount, self.number(amount))

    def compose(self, amount: _Amount, words: str, scale: str | None = None) -> str:
        before, one, many = self.units.get(amount.unit, ("", "", ""))
        single = amount.whole == 1 and not amount.fraction and not amount.scale
        sign = self.minus if amount.negative else ""
        scale = amount.scale if scale is None else scale
        return self.joiner.join(part for part in (before, sign, words, scale, one if single else many) if part)

    def _clock(self, m: re.Match[str]) -> str:
        return self.time(int(m["hour"]), int(m["minute"]), m.string[m.end() :])

    def _amount(self, m: re.Match[str]) -> str:
        whole, fraction = self.parse(m["num"])
        digits = re.sub(r"\D", "", m["num"])
        unit = m["pre"] or m["post"] or ""
        if unit == "￥":
            unit = "¥"
        amount = _Amount(digits, whole, fraction, unit, m["scale"] or "", m["sign"] is not None, m["suffix"] or "")
        bare = not (unit or amount.scale or fraction or amount.suffix)
        written_bare = bare and m["num"].isdigit() and len(digits) > 1
        if whole >= 10**15 or written_bare and (digits[0] == "0" or len(digits) >= 9):
            words = self.digits(digits)  # a phone number, a code: said digit by digit
        else:
            words = self.say(amount, m)
        if self.joiner:  # keep a number apart from Latin letters it was written against: "MP3", "5G"
            if m.start() > 0 and m.string[m.start() - 1].isascii() and m.string[m.start() - 1].isalpha():
                words = " " + words
            if m.end() < len(m.string) and m.string[m.end()].isascii() and m.string[m.end()].isalpha():
                words += " "
        return words


# English ---------------------------------------------------------------------------------------------------

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_EN_TENS = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_EN_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
_EN_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_EN_YEAR_BEFORE = re.compile(
    rf"(?:\b(?:in|since|from|until|till|by|year|around|circa|before|after|during)|\b(?:{_EN_MONTHS})"
    r"(?:\s+\d{1,2}(?:st|nd|rd|th)?,?)?)\s+$",
    re.IGNORECASE,
)


def _english(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_ONES[hundreds]} hundred" + (f" {_english(rest)}" if rest else "")
    value, name = next((value, name) for value, name in _EN_SCALES if n >= value)
    head, rest = divmod(n, value)
    return f"{_english(head)} {name}" + (f" {_english(rest)}" if rest else "")


def _english_year(n: int) -> str:
    """1999 → nineteen ninety-nine, 1905 → nineteen oh five, 2005 → two thousand five, 2024 → twenty twenty-four."""
    if 2000 <= n < 2010:
        return _english(n)
    head, rest = divmod(n, 100)
    if rest == 0:
        return f"{_english(head)} hundred"
    return f"{_english(head)} {'oh ' if rest < 10 else ''}{_english(rest)}"


def _english_ordinal(words: str) -> str:
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in _EN_ORDINALS:
        return head + _EN_ORDINALS[last]
    return head + (last[:-1] + "ieth" if last.endswith("y") else last + "th")


class _English(_Speech):
    suffixes = r"st|nd|rd|th|(?<=0)s"  # ordinals, decades
    scales = "thousand|million|billion|trillion"
    per = " per "
    units = {
        "$": ("", "dollar", "dollars"),
        "€": ("", "euro", "euros"),
        "£": ("", "pound", "pounds"),
        "¥": ("", "yen", "yen"),
        "₩": ("", "won", "won"),
        "%": ("", "percent", "percent"),
        "°C": ("", "degree Celsius", "degrees Celsius"),
        "℃": ("", "degree Celsius", "degrees Celsius"),
        "°F": ("", "degree Fahrenheit", "degrees Fahrenheit"),
        "℉": ("", "degree Fahrenheit", "degrees Fahrenheit"),
        "°": ("", "degree", "degrees"),
        "km": ("", "kilometer", "kilometers"),
        "kg": ("", "kilogram", "kilograms"),
        "cm": ("", "centimeter", "centimeters"),
        "mm": ("", "millimeter", "millimeters"),
        "km/h": ("", "kilometer per hour", "kilometers per hour"),
    }
    symbols = {"&": " and ", "+": " plus ", "@": " at ", "%": " percent "}
    abbreviations = [
        (r"Mr\.", "Mister"),
        (r"Mrs\.", "Missus"),
        (r"Dr\.", "Doctor"),
        (r"Prof\.", "Professor"),
        (r"e\.\s?g\.", "for example"),
        (r"i\.\s?e\.", "that is"),
        (r"etc\.", "et cetera"),
        (r"vs\.", "versus"),
        (r"approx\.", "approximately"),
        (r"No\.(?=\s?\d)", "number"),
    ]
    _cents = {"$": ("cent", "cents"), "€": ("cent", "cents"), "£": ("penny", "pence")}

    def cardinal(self, n: int) -> str:
        return _english(n)

    def digit(self, d: int) -> str:
        return _EN_ONES[d]

    def time(self, hour: int, minute: int, after: str) -> str:
        if minute == 0:
            return _english(hour) + ("" if re.match(r"\s?[ap]\.?m\b", after, re.IGNORECASE) else " o'clock")
        return f"{_english(hour)} {'oh ' if minute < 10 else ''}{_english(minute)}"

    def say(self, amount: _Amount, m: re.Match[str]) -> str:
        if amount.suffix in ("st", "nd", "rd", "th") and not amount.fraction:
            return _english_ordinal(_english(amount.whole))
        year = len(amount.digits) == 4 and 1100 <= amount.whole < 2100 and not (amount.unit or amount.fraction)
        if amount.suffix == "s":  # the 1990s, in her twenties
            words = _english_year(amount.whole) if year else _english(amount.whole)
            return words[:-1] + "ies" if words.endswith("y") else words + "s"
        if year and "," not in m["num"] and _EN_YEAR_BEFORE.search(m.string, 0, m.start()):
            return _english_year(amount.whole)
        if amount.unit in self._cents and len(amount.fraction) == 2 and not amount.scale:
            one, many = self._cents[amount.unit]
            cents = int(amount.fraction)
            parts = [self.compose(amount._replace(fraction=""), _english(amount.whole))] if amount.whole else []
            if cents:
                parts.append(f"{_english(cents)} {one if cents == 1 else many}")
            return " and ".join(parts) if parts else self.compose(amount, "zero")
        return super().say(amount, m)


# German ----------------------------------------------------------------------------------------------------

_DE_ONES = (
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn "
    "siebzehn achtzehn neunzehn"
).split()
_DE_TENS = "- - zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
_DE_LARGE = ((10**12, "Billion", "Billionen"), (10**9, "Milliarde", "Milliarden"), (10**6, "Million", "Millionen"))
_DE_SCALES = {written: (one, many) for _, one, many in _DE_LARGE for written in (one, many)}
_DE_SCALES.update({"Mio.": _DE_SCALES["Million"], "Mrd.": _DE_SCALES["Milliarde"]})
_DE_ORDINAL_STEMS = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}
_DE_FEMININE = ("e", "ung", "heit", "keit", "schaft", "ion", "tät", "ei", "ik")  # "eine Stunde", "eine Million"


def _german(n: int) -> str:
    for value, one, many in _DE_LARGE:
        if n >= value:
            head, rest = divmod(n, value)
            words = f"eine {one}" if head == 1 else f"{_german_stem(head)} {many}"
            return words + (f" {_german(rest)}" if rest else "")
    for value, name in ((1000, "tausend"), (100, "hundert")):
        if n >= value:
            head, rest = divmod(n, value)
            return _german_stem(head) + name + (_german(rest) if rest else "")
    if n < 20:
        return _DE_ONES[n]
    tens, ones = divmod(n, 10)
    return (f"{_german_stem(ones)}und" if ones else "") + _DE_TENS[tens]


def _german_stem(n: int) -> str:
    """The number as a multiplier: "ein" in "einhundert", "einundzwanzig"."""
    words = _german(n)
    return words[:-1] if words.endswith("eins") else words


def _german_ordinal(n: int) -> str:
    """The ordinal's stem, before its ending: 3 → dritt, 20 → zwanzigst, 101 → einhunderterst."""
    small = n % 100
    head = _german(n - small) if n >= 100 else ""
    if small == 0:
        return head + "st"
    if small < 20:
        return head + _DE_ORDINAL_STEMS.get(small, _DE_ONES[small] + "t")
    return head + _german(small) + "st"


class _German(_Speech):
    number_pattern = _DE_NUMBER
    scales = r"Millionen|Million|Milliarden|Milliarde|Billionen|Billion|Mio\.|Mrd\."
    clock = rf"{_CLOCK}(?:\s?Uhr\b)?|(?<![\d.,])(?P<dhour>[01]?\d|2[0-4])\.(?P<dminute>[0-5]\d)\s?Uhr\b"
    point = "Komma"
    to = " bis "
    per = " pro "
    units = {
        "$": ("", "Dollar", "Dollar"),
        "€": ("", "Euro", "Euro"),
        "£": ("", "Pfund", "Pfund"),
        "¥": ("", "Yen", "Yen"),
        "₩": ("", "Won", "Won"),
        "%": ("", "Prozent", "Prozent"),
        "°C": ("", "Grad Celsius", "Grad Celsius"),
        "℃": ("", "Grad Celsius", "Grad Celsius"),
        "°F": ("", "Grad Fahrenheit", "Grad Fahrenheit"),
        "℉": ("", "Grad Fahrenheit", "Grad Fahrenheit"),
        "°": ("", "Grad", "Grad"),
        "km": ("", "Kilometer", "Kilometer"),
        "kg": ("", "Kilogramm", "Kilogramm"),
        "cm": ("", "Zentimeter", "Zentimeter"),
        "mm": ("", "Millimeter", "Millimeter"),
        "km/h": ("", "Kilometer pro Stunde", "Kilometer pro Stunde"),
    }
    symbols = {"&": " und ", "+": " plus ", "@": " at ", "%": " Prozent "}
    abbreviations = [
        (r"z\.\s?B\.", "zum Beispiel"),
        (r"d\.\s?h\.", "das heißt"),
        (r"u\.\s?a\.", "unter anderem"),
        (r"z\.\s?T\.", "zum Teil"),
        (r"usw\.", "und so weiter"),
        (r"bzw\.", "beziehungsweise"),
        (r"ca\.", "circa"),
        (r"Dr\.", "Doktor"),
        (r"Prof\.", "Professor"),
        (r"Nr\.", "Nummer"),
        (r"evtl\.", "eventuell"),
        (r"ggf\.", "gegebenenfalls"),
        (r"inkl\.", "inklusive"),
        (r"vgl\.", "vergleiche"),
        (r"etc\.", "et cetera"),
        (r"Hr\.", "Herr"),
        (r"Fr\.", "Frau"),
        (r"Str\.", "Straße"),
    ]

    def cardinal(self, n: int) -> str:
        return _german(n)

    def digit(self, d: int) -> str:
        return _DE_ONES[d]

    def parse(self, number: str) -> tuple[int, str]:
        if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", number):
            number = number.replace(".", "")
        whole, _, fraction = number.replace(",", ".").partition(".")
        return int(whole), fraction

    def before_numbers(self, text: str) -> str:
        return re.sub(r"(?<![\d.,])([1-9]\d{0,2})\.(?=\s)", self._ordinal, text)

    def _ordinal(self, m: re.Match[str]) -> str:
        after = _NEXT_WORD.match(m.string, m.end())
        before = _word_before_number(m.string, m.end() - 1)
        if not _is_german_ordinal(before, after[1] if after else ""):
            return m[0]
        return _german_ordinal(int(m[1])) + ("en" if before.lower() in _DE_DATIVE else "e")

    def _clock(self, m: re.Match[str]) -> str:
        hour, minute = (m["hour"], m["minute"]) if m["hour"] else (m["dhour"], m["dminute"])
        return self.time(int(hour), int(minute), "")

    def time(self, hour: int, minute: int, after: str) -> str:
        return ("ein" if hour == 1 else _german(hour)) + " Uhr" + (f" {_german(minute)}" if minute else "")

    def say(self, amount: _Amount, m: re.Match[str]) -> str:
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and len(amount.digits) == 4 and 1100 <= amount.whole < 2000:
            head, rest = divmod(amount.whole, 100)
            return _german(head) + "hundert" + (_german(rest) if rest else "")  # neunzehnhundertneunundneunzig
        scale = ""
        if amount.scale:
            one, many = _DE_SCALES[amount.scale]
            scale = one if amount.whole == 1 and not amount.fraction else many
        if amount.fraction:
            words = self.decimal(amount.whole, amount.fraction)
        else:
            words = self._one(amount, m) if amount.whole == 1 else _german(amount.whole)
        if amount.unit in ("$", "€", "£") and len(amount.fraction) == 2 and not amount.scale:
            currency = self.units[amount.unit][1]
            whole = self._one(amount, m) if amount.whole == 1 else _german(amount.whole)
            cents = _german(int(amount.fraction))
            words = f"{whole} {currency} {cents}" if amount.whole else f"{cents} Cent"
            return f"{self.minus} {words}" if amount.negative else words
        return self.compose(amount, words, scale)

    def _one(self, amount: _Amount, m: re.Match[str]) -> str:
        """1 before a noun: "ein Euro", "eine Million", "eine Stunde"; on its own "eins"."""
        if amount.scale:
            return "eine"
        if amount.unit:
            return "ein"
        after = _NEXT_WORD.match(m.string, m.end())
        if after is None or not after[1][0].isupper():
            return "eins"
        return "eine" if after[1].endswith(_DE_FEMININE) else "ein"


# Chinese ---------------------------------------------------------------------------------------------------

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_CLASSIFIERS = re.compile(
    r"个|位|名|次|天|年(?!级)|本|件|只|条|张|种|点|台|辆|家|岁|小时|分钟|周|倍|块|杯|份|套|双|部|万|千|百|亿"
)


def _chinese(n: int) -> str:
    """Chinese numerals for a quantity: 2024 → 两千零二十四, 100010 → 十万零一十."""
    if n == 0:
        return "零"
    groups = []
    while n:
        n, group = divmod(n, 10000)
        groups.append(group)
    words, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(words)
            continue
        if words and (gap or group < 1000):
            words += "零"
        words += _chinese_group(group) + ("", "万", "亿", "万亿")[index]
        gap = False
    if words.startswith("一十"):
        words = words[1:]
    if words[0] == "二" and words[1:2] in ("千", "万", "亿"):
        words = "两" + words[1:]
    return words


def _chinese_group(n: int) -> str:
    words, gap = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            gap = bool(words)
            continue
        words += ("零" if gap else "") + _ZH_DIGITS[digit] + unit
        gap = False
    return words


class _Chinese(_Speech):
    scales = "万亿|万|亿"
    joiner = ""
    groups = " "
    minus = "负"
    point = "点"
    to = "到"
    per = "每"
    units = {
        "$": ("", "美元", "美元"),
        "€": ("", "欧元", "欧元"),
        "£": ("", "英镑", "英镑"),
        "¥": ("", "元", "元"),
        "₩": ("", "韩元", "韩元"),
        "%": ("百分之", "", ""),
        "°C": ("", "摄氏度", "摄氏度"),
        "℃": ("", "摄氏度", "摄氏度"),
        "°F": ("", "华氏度", "华氏度"),
        "℉": ("", "华氏度", "华氏度"),
        "°": ("", "度", "度"),
        "km": ("", "公里", "公里"),
        "kg": ("", "公斤", "公斤"),
        "cm": ("", "厘米", "厘米"),
        "mm": ("", "毫米", "毫米"),
        "km/h": ("时速", "公里", "公里"),
    }
    symbols = {"&": "和", "+": "加", "@": "艾特", "%": "百分号"}
    abbreviations = _English.abbreviations

    def cardinal(self, n: int) -> str:
        return _chinese(n)

    def digit(self, d: int) -> str:
        return _ZH_DIGITS[d]

    def time(self, hour: int, minute: int, after: str) -> str:
        words = ("两" if hour == 2 else _chinese(hour)) + "点"
        if minute:
            words += ("零" if minute < 10 else "") + _chinese(minute) + "分"
        return words

    def say(self, amount: _Amount, m: re.Match[str]) -> str:
        after = m.string[m.end() :]
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and len(amount.digits) == 4 and 1100 <= amount.whole < 2100 and after.startswith("年"):
            return self.digits(amount.digits)  # a year is read digit by digit: 二零二四年
        two = amount.whole == 2 and amount.digits == "2" and not amount.fraction
        if two and m.string[m.start() - 1 : m.start()] != "第":
            if amount.scale or amount.unit in ("$", "€", "£", "¥", "₩") or _ZH_CLASSIFIERS.match(after):
                return self.compose(amount, "两")  # two of something: 两个, 两万, 两美元
        if amount.negative and amount.unit in ("°C", "℃", "°F", "℉", "°"):
            return "零下" + self.compose(amount._replace(negative=False), self.number(amount))
        return super().say(amount, m)


# Korean ----------------------------------------------------------------------------------------------------

_KO_DIGITS = "영일이삼사오육칠팔구"
_KO_NATIVE_ONES = ("", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉")
_KO_NATIVE_TENS = ("", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔")
_KO_BEFORE_COUNTER = {"하나": "한", "둘": "두", "셋": "세", "넷": "네", "스물": "스무"}
# Counters that take native numbers (세 개, 다섯 명, 두 시 / 두 시간); others (년, 월, 일, 분, 원) take Sino-Korean.
_KO_NATIVE_COUNTERS = re.compile(r"\s?(?:개(?![월국])|명|시|살|마리|권|잔|번째|가지|달|병|곳|사람|그릇|송이|켤레|벌)")


def _korean(n: int) -> str:
    """Sino-Korean numbers, spaced by 만: 2024 → 이천이십사, 12345678 → 천이백삼십사만 오천육백칠십팔."""
    if n == 0:
        return "영"
    groups = []
    while n:
        n, group = divmod(n, 10000)
        groups.append(group)
    parts = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group:
            words = "" if index == 1 and group == 1 else _korean_group(group)  # 만, not 일만
            parts.append(words + ("", "만", "억", "조")[index])
    return " ".join(parts)


def _korean_group(n: int) -> str:
    words = ""
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        digit = n // value % 10
        if digit:
            words += ("" if digit == 1 and unit else _KO_DIGITS[digit]) + unit
    return words


def _korean_native(n: int) -> str:
    """A native Korean number (1 to 99) as it stands before a counter: 1 → 한, 20 → 스무, 21 → 스물한."""
    tens, ones = divmod(n, 10)
    words = _KO_NATIVE_TENS[tens] + _KO_NATIVE_ONES[ones]
    for full, short in _KO_BEFORE_COUNTER.items():
        if words.endswith(full):
            return words[: -len(full)] + short
    return words


class _Korean(_Speech):
    scales = "천만|백만|십만|조|억|만|천"
    groups = " "
    minus = "마이너스"
    point = "점"
    to = "에서 "
    units = {
        "$": ("", "달러", "달러"),
        "€": ("", "유로", "유로"),
        "£": ("", "파운드", "파운드"),
        "¥": ("", "엔", "엔"),
        "₩": ("", "원", "원"),
        "%": ("", "퍼센트", "퍼센트"),
        "°C": ("섭씨", "도", "도"),
        "℃": ("섭씨", "도", "도"),
        "°F": ("화씨", "도", "도"),
        "℉": ("화씨", "도", "도"),
        "°": ("", "도", "도"),
        "km": ("", "킬로미터", "킬로미터"),
        "kg": ("", "킬로그램", "킬로그램"),
        "cm": ("", "센티미터", "센티미터"),
        "mm": ("", "밀리미터", "밀리미터"),
        "km/h": ("시속", "킬로미터", "킬로미터"),
    }
    symbols = {"&": " 앤드 ", "+": " 플러스 ", "@": " 앳 ", "%": " 퍼센트 "}
    abbreviations = _English.abbreviations

    def cardinal(self, n: int) -> str:
        return _korean(n)

    def digit(self, d: int) -> str:
        return "공" if d == 0 else _KO_DIGITS[d]  # phone numbers say 공 for 0

    def digits(self, digits: str) -> str:
        return "".join(self.digit(int(d)) for d in digits)

    def decimal(self, whole: int, fraction: str) -> str:
        return f"{_korean(whole)} 점 {''.join(_KO_DIGITS[int(d)] for d in fraction)}"

    def time(self, hour: int, minute: int, after: str) -> str:
        words = (_korean_native(hour) if hour else "영") + " 시"
        return words + (f" {_korean(minute)} 분" if minute else "")

    def say(self, amount: _Amount, m: re.Match[str]) -> str:
        after = m.string[m.end() :]
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and 1 <= amount.whole <= 99 and m.string[m.start() - 1 : m.start()] != "제":  # 제3장 is Sino
            space = "" if after[:1].isspace() else " "
            if amount.whole == 1 and re.match(r"\s?번째", after):
                return "첫" + space
            if _KO_NATIVE_COUNTERS.match(after):
                return _korean_native(amount.whole) + space
            if after.startswith("월") and amount.whole in (6, 10):
                return "유" if amount.whole == 6 else "시"  # 유월, 시월
        if amount.negative and amount.unit in ("°C", "℃", "°F", "℉", "°"):
            before, one, _ = self.units[amount.unit]
            return " ".join(part for part in (before, "영하", self.number(amount), one) if part)
        return super().say(amount, m)


_SPEECH: dict[str, _Speech] = {"en": _English(), "de": _German(), "zh": _Chinese(), "ko": _Korean()}


def speakable(text: str, language: str) -> str:
    """`text` with numbers, times, money, units, symbols and common abbreviations written out in `language`.

    Speech models misread digits and symbols, above all in Chinese and Korean, so the TTS only ever sees words.
    Numbers are read as quantities (zh 两千零二十四, ko 이천이십사, de zweitausendvierundzwanzig) except: a
    4-digit year before 年 in Chinese, digit by digit (二零二四年); an English year after "in", "since", a month
    and the like (twenty twenty-four); German 1100-1999 as hundreds (neunzehnhundertneunundneunzig), which is also
    how German speakers say such quantities; Korean native numbers before native counters (세 개, 두 시); and
    codes, phone numbers and numbers with a leading zero, digit by digit. Decimal and thousands separators follow
    the language (de 1.000,5; others 1,000.5).
    """
    if language not in _SPEECH:
        raise ValueError(f"unsupported language {language!r}: expected one of {', '.join(LANGUAGES)}")
    return _SPEECH[language].speak(text)
