"""Korean: about 8.5 Hangul characters (6.5 syllables and their spaces) of speech a second; numbers spelled by
num2words, Sino-Korean (이천이십사) except before the counters that take native numbers (세 개, 두 시)."""

from __future__ import annotations

import re

from num2words import num2words

from agent.text.en import ABBREVIATIONS
from agent.text.pack import DEGREES, Amount, Boundary, LanguagePack, Unit

_AUXILIARIES = ("싶", "있", "계", "말")  # after -고 they continue the same verb
_ENDINGS = ("지만", "는데", "은데", "니까", "면서", "어서", "아서", "해서", "고", "며", "면", "서")
# Counters that take native numbers (세 개, 다섯 명, 두 시 / 두 시간); others (년, 월, 일, 분, 원) take Sino-Korean.
_NATIVE_COUNTERS = re.compile(r"\s?(?:개(?![월국])|명|시|살|마리|권|잔|번째|가지|달|병|곳|사람|그릇|송이|켤레|벌)")
_BEFORE_COUNTER = {1: "한", 20: "스무"}


def _cardinal(n: int) -> str:
    """Sino-Korean, spaced by 만: 2024 → 이천이십사, 12345678 → 천이백삼십사만 오천육백칠십팔."""
    return num2words(n, lang="ko")


def _native(n: int) -> str:
    """A native number (1 to 99) as it stands before a counter: 1 → 한, 20 → 스무, 21 → 스물한.

    num2words has native numbers only in its ordinals ("세 번째"), which are these words but for 1 (첫) and 20
    (스물, which shortens to 스무 before a counter)."""
    return _BEFORE_COUNTER.get(n) or num2words(n, lang="ko", to="ordinal").removesuffix(" 번째")


class Korean(LanguagePack):
    limits = (12, 38)
    abbreviations = ABBREVIATIONS
    scales = "천만|백만|십만|조|억|만|천"
    groups = " "
    minus = "마이너스"
    point = "점"
    to = "에서 "
    units = {
        "$": Unit("달러"),
        "€": Unit("유로"),
        "£": Unit("파운드"),
        "¥": Unit("엔"),
        "₩": Unit("원"),
        "%": Unit("퍼센트"),
        "°C": Unit("도", before="섭씨"),
        "°F": Unit("도", before="화씨"),
        "°": Unit("도"),
        "km": Unit("킬로미터"),
        "kg": Unit("킬로그램"),
        "cm": Unit("센티미터"),
        "mm": Unit("밀리미터"),
        "km/h": Unit("킬로미터", before="시속"),
    }
    symbols = {"&": " 앤드 ", "+": " 플러스 ", "@": " 앳 ", "%": " 퍼센트 "}

    def boundary(self, text: str, end: int, start: int, final: bool) -> Boundary:
        word = text[:end].split()[-1]
        clause_end = word.endswith(_ENDINGS) and not word.endswith("에서")  # 에서 is a place, not a clause
        if word.endswith("고") and text.startswith(_AUXILIARIES, start):
            clause_end = False  # 가고 싶다, 하고 있다: one verb
        return Boundary.CLAUSE if clause_end else Boundary.PLAIN

    def cardinal(self, n: int) -> str:
        return _cardinal(n)

    def digits(self, digits: str) -> str:
        return "".join("공" if d == "0" else _cardinal(int(d)) for d in digits)  # phone numbers say 공 for 0

    def decimal(self, whole: int, fraction: str) -> str:
        return f"{_cardinal(whole)} 점 {''.join(_cardinal(int(d)) for d in fraction)}"

    def time(self, hour: int, minute: int, after: str) -> str:
        words = (_native(hour) if hour else "영") + " 시"
        return words + (f" {_cardinal(minute)} 분" if minute else "")

    def say(self, amount: Amount, m: re.Match[str]) -> str:
        after = m.string[m.end() :]
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and 1 <= amount.whole <= 99 and m.string[m.start() - 1 : m.start()] != "제":  # 제3장 is Sino
            space = "" if after[:1].isspace() else " "
            if amount.whole == 1 and re.match(r"\s?번째", after):
                return "첫" + space
            if _NATIVE_COUNTERS.match(after):
                return _native(amount.whole) + space
            if after.startswith("월") and amount.whole in (6, 10):
                return "유" if amount.whole == 6 else "시"  # 유월, 시월
        if amount.negative and amount.unit in DEGREES:
            unit = self.units[amount.unit]
            return " ".join(part for part in (unit.before, "영하", self.number(amount), unit.one) if part)
        return super().say(amount, m)


KOREAN = Korean()
