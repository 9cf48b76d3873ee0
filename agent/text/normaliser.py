"""Phrases made speakable: numbers, times, money, units, symbols and abbreviations written out as words.

A speech model reads "12:30", "3,5 %" or "2024年" unreliably, above all in Chinese and Korean, so the TTS only ever
sees words. What counts as a number, a phone number, a range or a price is found here, once for every language;
how it is read is the language pack's.
"""

from __future__ import annotations

import re

from agent.text.languages import PACKS, pack_for
from agent.text.pack import CURRENCIES, UNITS, Abbreviation, Amount, LanguagePack

_ALIASES = {"℃": "°C", "℉": "°F", "￥": "¥"}
_CURRENCY = "[" + re.escape("".join(CURRENCIES) + "￥") + "]"
_UNIT = "|".join(re.escape(unit) for unit in sorted((*UNITS, *_ALIASES), key=len, reverse=True))  # km/h before km
_DIGIT_CHAIN = re.compile(r"(?<![\d.,-])\d+(?:-\d+){2,}(?![\d-])")  # phone numbers, ISO dates: digit by digit
_RANGE = re.compile(r"(?<=\d)(?:-|\s?[–~～〜]\s?)(?=\d)")
_PER = re.compile(r"(?<=[\d%€$£¥￥₩元])\s?/\s?(?=[^\W\d_])")  # "€/Monat", "10元/天"


def _pattern(abbreviation: Abbreviation) -> re.Pattern[str]:
    """Where an abbreviation stands in a text: "z.B." also as "z. B."."""
    written = re.sub(r"\\\.(?=\w)", r"\\.\\s?", re.escape(abbreviation.written))
    return re.compile(rf"(?<!\w){written}" + (r"(?=\s?\d)" if abbreviation.before_number else ""))


def _kept_period(m: re.Match[str], abbreviation: Abbreviation) -> str:
    """The period of an abbreviation that also ended its sentence ("..., usw. Dann"), kept as a sentence end."""
    after = m.string[m.end() :]
    return "." if not after.strip() or (abbreviation.final and re.match(r"\s+[A-ZÄÖÜ]", after)) else ""


class _Normaliser:
    """One language pack's readings, with the patterns that find what it reads."""

    def __init__(self, pack: LanguagePack) -> None:
        self.pack = pack
        self._amount_re = re.compile(
            rf"(?:(?<![A-Za-z0-9.,])(?P<sign>[-−]))?(?:(?P<pre>{_CURRENCY})\s?)?(?<!\d)(?P<num>{pack.number_pattern})"
            rf"(?:\s?(?P<scale>{pack.scales})(?![^\W\d_]))?(?:\s?(?P<post>{_UNIT})(?![A-Za-z]))?"
            rf"(?:(?P<suffix>{pack.suffixes})(?![A-Za-z]))?"
        )
        self._clock_re = re.compile(pack.clock)
        self._abbreviations = [(_pattern(each), each) for each in pack.abbreviations if each.spoken]

    def speak(self, text: str) -> str:
        pack = self.pack
        for pattern, abbreviation in self._abbreviations:
            text = pattern.sub(lambda m, each=abbreviation: each.spoken + _kept_period(m, each), text)
        text = pack.before_numbers(text)
        text = _DIGIT_CHAIN.sub(lambda m: pack.groups.join(pack.digits(group) for group in m[0].split("-")), text)
        if pack.per is not None:
            text = _PER.sub(pack.per, text)
        text = _RANGE.sub(pack.to, text)
        text = self._clock_re.sub(pack.clock_time, text)
        text = self._amount_re.sub(self._amount, text)
        for symbol, words in pack.symbols.items():
            text = text.replace(symbol, words)
        return re.sub(r"\s+", " ", text).strip()

    def _amount(self, m: re.Match[str]) -> str:
        pack = self.pack
        whole, fraction = pack.parse(m["num"])
        digits = re.sub(r"\D", "", m["num"])
        unit = m["pre"] or m["post"] or ""
        amount = Amount(
            digits,
            whole,
            fraction,
            _ALIASES.get(unit, unit),
            m["scale"] or "",
            m["sign"] is not None,
            m["suffix"] or "",
        )
        bare = not (unit or amount.scale or fraction or amount.suffix)
        written_bare = bare and m["num"].isdigit() and len(digits) > 1
        if whole >= 10**15 or written_bare and (digits[0] == "0" or len(digits) >= 9):
            words = pack.digits(digits)  # a phone number, a code: said digit by digit
        else:
            words = pack.say(amount, m)
        if pack.joiner:  # keep a number apart from Latin letters it was written against: "MP3", "5G"
            if m.start() > 0 and m.string[m.start() - 1].isascii() and m.string[m.start() - 1].isalpha():
                words = " " + words
            if m.end() < len(m.string) and m.string[m.end()].isascii() and m.string[m.end()].isalpha():
                words += " "
        return words


_NORMALISERS = {pack: _Normaliser(pack) for pack in PACKS.values()}


def speakable(text: str, language: str) -> str:
    """`text` with numbers, times, money, units, symbols and common abbreviations written out in `language`.

    Numbers are read as quantities (zh 两千零二十四, ko 이천이십사, de zweitausendvierundzwanzig) except: a
    4-digit year before 年 in Chinese, digit by digit (二零二四年); an English year after "in", "since", a month
    and the like (twenty twenty-four); German 1100-1999 as hundreds (neunzehnhundertneunundneunzig), which is also
    how German speakers say such quantities; Korean native numbers before native counters (세 개, 두 시); and
    codes, phone numbers and numbers with a leading zero, digit by digit. Decimal and thousands separators follow
    the language (de 1.000,5; others 1,000.5).
    """
    return _NORMALISERS[pack_for(language)].speak(text)
