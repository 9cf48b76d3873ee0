import re

import pytest

from agent.text import speakable
from tests.agent.text.samples import TEXTS

SPEAKABLE = [
    ("en", "It is 25°C and -3 °F.", "It is twenty-five degrees Celsius and minus three degrees Fahrenheit."),
    (
        "en",
        "He paid $1.5 million, £1 and €0.99.",
        "He paid one point five million dollars, one pound and ninety-nine cents.",
    ),
    ("en", "¥500 or ₩1,000,000", "five hundred yen or one million won"),
    (
        "en",
        "Since 1905, in 2000, by 2010, 2050 people",
        "Since nineteen oh five, in two thousand, by twenty ten, two thousand fifty people",
    ),
    ("en", "the 1st, 2nd, 3rd, 12th and 21st", "the first, second, third, twelfth and twenty-first"),
    ("en", "at 9:05 or 10:00", "at nine oh five or ten o'clock"),
    ("en", "3-5 km, 60 km/h, $10/hour", "three to five kilometers, sixty kilometers per hour, ten dollars per hour"),
    ("en", "R&D + QA @ HQ, 100%", "R and D plus QA at HQ, one hundred percent"),
    ("en", "Mr. Lee vs. Mrs. Kim, No. 7, etc.", "Mister Lee versus Missus Kim, number seven, et cetera."),
    (
        "en",
        "MP3, 5G, code 0042, id 123456789",
        "MP three, five G, code zero zero four two, id one two three four five six seven eight nine",
    ),
    (
        "de",
        "Am 1. Januar um 8:15 Uhr, 14.30 Uhr, 1 Uhr",
        "Am ersten Januar um acht Uhr fünfzehn, vierzehn Uhr dreißig, ein Uhr",
    ),
    (
        "de",
        "die 2. Klasse, der 20. Mai, zum 101. Mal",
        "die zweite Klasse, der zwanzigste Mai, zum einhundertersten Mal",
    ),
    ("de", "3,5 % von 1.250.000 €", "drei Komma fünf Prozent von eine Million zweihundertfünfzigtausend Euro"),
    (
        "de",
        "1 Stunde, 1 Tag, 1 Million, 2,5 Mio. Menschen, 3 Mrd.",
        "eine Stunde, ein Tag, eine Million, zwei Komma fünf Millionen Menschen, drei Milliarden",
    ),
    (
        "de",
        "1999 und 2024 und 21 Katzen",
        "neunzehnhundertneunundneunzig und zweitausendvierundzwanzig und einundzwanzig Katzen",
    ),
    ("de", "$2, £1,50, 0,99 €, 5 €/Monat", "zwei Dollar, ein Pfund fünfzig, neunundneunzig Cent, fünf Euro pro Monat"),
    ("de", "z. B., d.h., usw. Dann Nr. 5", "zum Beispiel, das heißt, und so weiter. Dann Nummer fünf"),
    ("de", "Müller & Söhne, 10-12 kg, 37°", "Müller und Söhne, zehn bis zwölf Kilogramm, siebenunddreißig Grad"),
    ("zh", "2024年有365天", "二零二四年有三百六十五天"),
    ("zh", "2个人，2本书，第2名，2月2号", "两个人，两本书，第二名，二月二号"),
    ("zh", "10、12、100、1005、10050、20000、100010", "十、十二、一百、一千零五、一万零五十、两万、十万零一十"),
    ("zh", "增长了3.5%，气温-5℃", "增长了百分之三点五，气温零下五摄氏度"),
    ("zh", "$2，¥3.5，€100，₩1000", "两美元，三点五元，一百欧元，一千韩元"),
    ("zh", "9:05到12:00，3~5个，10元/天", "九点零五分到十二点，三到五个，十元每天"),
    ("zh", "iPhone 15和Galaxy S24", "iPhone 十五和Galaxy S二十四"),
    ("zh", "电话13812345678，A&B", "电话一三八一二三四五六七八，A和B"),
    ("ko", "2024년 6월 10월 15일", "이천이십사년 유월 시월 십오일"),
    ("ko", "사과 1개, 2명, 3시간, 20살, 1번째", "사과 한 개, 두 명, 세 시간, 스무 살, 첫 번째"),
    ("ko", "5분, 3층, 제3장, 12개월", "오분, 삼층, 제삼장, 십이개월"),
    ("ko", "10000원, ₩1,500, $20, 50%", "만원, 천오백 원, 이십 달러, 오십 퍼센트"),
    ("ko", "12345678명이 -3°C에서 3.14", "천이백삼십사만 오천육백칠십팔명이 섭씨 영하 삼 도에서 삼 점 일사"),
    ("ko", "오후 2:05, 010-1234-5678", "오후 두 시 오 분, 공일공 일이삼사 오육칠팔"),
    ("ko", "갤럭시 S24 & 아이폰 15", "갤럭시 S 이십사 앤드 아이폰 십오"),
]


@pytest.mark.parametrize("language, text, expected", SPEAKABLE)
def test_speakable_writes_numbers_and_symbols_as_words(language, text, expected):
    assert speakable(text, language) == expected


def test_speakable_leaves_no_digit_behind():
    for language, text in TEXTS.items():
        assert not re.search(r"\d", speakable(text, language)), language


def test_speakable_refuses_an_unknown_language():
    with pytest.raises(ValueError, match="fr"):
        speakable("3", "fr")
