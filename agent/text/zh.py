"""Mandarin: about 4.5 Han characters of speech a second, cut between characters; numbers spelled by cn2an."""

from __future__ import annotations

import re

import cn2an

from agent.text.en import ABBREVIATIONS
from agent.text.pack import CURRENCIES, DEGREES, Amount, Boundary, LanguagePack, Unit
from model.words import is_han

_CONJUNCTIONS = ("但", "而且", "可是", "所以", "因为", "然后", "如果", "虽然", "不过", "或者", "并且", "因此", "于是")
_PARTICLES = "了吧呢啊吗呀嘛"  # sentence-final particles: a pause after them sounds natural
_CLASSIFIERS = re.compile(
    r"个|位|名|次|天|年(?!级)|本|件|只|条|张|种|点|台|辆|家|岁|小时|分钟|周|倍|块|杯|份|套|双|部|万|千|百|亿"
)


def _cardinal(n: int) -> str:
    """cn2an, but 两 where a quantity begins with two thousands, ten thousands or hundred millions: 两千零二十四."""
    words = cn2an.an2cn(n)
    return "两" + words[1:] if words[0] == "二" and words[1:2] in ("千", "万", "亿") else words


class Chinese(LanguagePack):
    limits = (7, 22)
    abbreviations = ABBREVIATIONS
    scales = "万亿|万|亿"
    joiner = ""
    groups = " "
    minus = "负"
    point = "点"
    to = "到"
    per = "每"
    units = {
        "$": Unit("美元"),
        "€": Unit("欧元"),
        "£": Unit("英镑"),
        "¥": Unit("元"),
        "₩": Unit("韩元"),
        "%": Unit("", before="百分之"),
        "°C": Unit("摄氏度"),
        "°F": Unit("华氏度"),
        "°": Unit("度"),
        "km": Unit("公里"),
        "kg": Unit("公斤"),
        "cm": Unit("厘米"),
        "mm": Unit("毫米"),
        "km/h": Unit("公里", before="时速"),
    }
    symbols = {"&": "和", "+": "加", "@": "艾特", "%": "百分号"}

    def cuts_between(self, before: str, after: str) -> bool:
        # between two Han characters, but not inside a Latin word or a number ("iPhone", "3个")
        return (
            before.isalnum()
            and after.isalnum()
            and not (before.isdigit() or after.isdigit())
            and (is_han(before) or is_han(after))
        )

    def boundary(self, text: str, end: int, start: int, final: bool) -> Boundary:
        if start + 2 > len(text) and not final:
            return Boundary.UNKNOWN
        after_particle = text[end - 1] in _PARTICLES and text[start : start + 1] != "解"  # 了解 is one word
        return Boundary.CLAUSE if after_particle or text.startswith(_CONJUNCTIONS, start) else Boundary.PLAIN

    def cardinal(self, n: int) -> str:
        return _cardinal(n)

    def time(self, hour: int, minute: int, after: str) -> str:
        words = ("两" if hour == 2 else _cardinal(hour)) + "点"
        if minute:
            words += ("零" if minute < 10 else "") + _cardinal(minute) + "分"
        return words

    def say(self, amount: Amount, m: re.Match[str]) -> str:
        after = m.string[m.end() :]
        plain = not (amount.unit or amount.scale or amount.fraction)
        if plain and len(amount.digits) == 4 and 1100 <= amount.whole < 2100 and after.startswith("年"):
            return self.digits(amount.digits)  # a year is read digit by digit: 二零二四年
        two = amount.whole == 2 and amount.digits == "2" and not amount.fraction
        if two and m.string[m.start() - 1 : m.start()] != "第":
            if amount.scale or amount.unit in CURRENCIES or _CLASSIFIERS.match(after):
                return self.compose(amount, "两")  # two of something: 两个, 两万, 两美元
        if amount.negative and amount.unit in DEGREES:
            return "零下" + self.compose(amount._replace(negative=False), self.number(amount))
        return super().say(amount, m)


CHINESE = Chinese()
