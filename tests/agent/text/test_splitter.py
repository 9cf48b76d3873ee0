import random
import re

import pytest

from agent.text import PhraseSplitter, speakable
from streaming.vocabulary import LANGUAGES
from tests.agent.text.samples import TEXTS

# Sentences as a translator commits them, and the phrases the TTS gets with the default limits.
PHRASES = [
    (
        "en",
        "Hello. I think we should meet at 12:30 tomorrow, because Dr. Smith is busy until then.",
        ["Hello. I think we should meet at twelve thirty tomorrow,", "because Doctor Smith is busy until then."],
    ),
    (
        "en",
        "Prices rose 3.5% to $1,299.99 in 2024, e.g. for the iPhone 15 Pro. That's a lot!",
        [
            "Prices rose three point five percent to one thousand two hundred ninety-nine dollars and ninety-nine cents"
            " in twenty twenty-four,",
            "for example for the iPhone fifteen Pro.",
            "That's a lot!",
        ],
    ),
    (
        "en",
        "We walked along the river for a very long time and talked about everything that had happened during the "
        "year because we had not seen each other since the spring",
        [
            "We walked along the river for a very long time",
            "and talked about everything that had happened during the year",
            "because we had not seen each other since the spring",
        ],
    ),
    (
        "en",
        "Call 555-123-4567 before 7:00 pm. The 1990s were great, weren't they?",
        [
            "Call five five five, one two three, four five six seven before seven pm.",
            "The nineteen nineties were great,",
            "weren't they?",
        ],
    ),
    (
        "de",
        "Ich glaube, dass wir uns am 3. Mai um 14:30 Uhr treffen sollten, weil es wichtig ist.",
        ["Ich glaube, dass wir uns am dritten Mai um vierzehn Uhr dreißig treffen sollten,", "weil es wichtig ist."],
    ),
    (
        "de",
        "Wir brauchen Äpfel, Birnen, Bananen und Milch, z. B. für den Kuchen.",
        ["Wir brauchen Äpfel, Birnen, Bananen und Milch,", "zum Beispiel für den Kuchen."],
    ),
    (
        "de",
        "Das kostet ca. 3,50 € pro Person bzw. 1.000 Euro insgesamt. Die Temperatur liegt bei -5 °C.",
        [
            "Das kostet circa drei Euro fünfzig pro Person beziehungsweise eintausend Euro insgesamt.",
            "Die Temperatur liegt bei minus fünf Grad Celsius.",
        ],
    ),
    (
        "de",
        "Wir sind gestern Abend mit unseren Freunden aus der Schweiz in das neue Restaurant am Marktplatz gegangen "
        "und haben dort sehr lange über die Zukunft gesprochen",
        [
            "Wir sind gestern Abend mit unseren Freunden aus der Schweiz",
            "in das neue Restaurant am Marktplatz gegangen",
            "und haben dort sehr lange über die Zukunft gesprochen",
        ],
    ),
    (
        "zh",
        "我今天买了2个iPhone 15，花了¥12,999。你觉得怎么样？",
        ["我今天买了两个iPhone 十五，", "花了一万二千九百九十九元。", "你觉得怎么样？"],
    ),
    (
        "zh",
        "会议在2024年3月5日下午2:30开始，预计有2万人参加。",
        ["会议在二零二四年三月五日下午两点三十分开始，", "预计有两万人参加。"],
    ),
    (
        "zh",
        "我觉得这个计划还可以吧但是我们需要更多的时间来准备所以我建议大家下个星期再讨论一下然后再做最后的决定",
        [
            "我觉得这个计划还可以吧",
            "但是我们需要更多的时间来准备",
            "所以我建议大家下个星期再讨论一下",
            "然后再做最后的决定",
        ],
    ),
    (
        "zh",
        "GPT-4的准确率是85.5%，比去年提高了12%。",
        ["GPT-四的准确率是百分之八十五点五，", "比去年提高了百分之十二。"],
    ),
    (
        "ko",
        "안녕하세요. 저는 오늘 오후 3시에 사과 3개를 샀는데, 가격이 ₩12,000이었어요.",
        ["안녕하세요. 저는 오늘 오후 세 시에 사과 세 개를 샀는데,", "가격이 만 이천 원이었어요."],
    ),
    (
        "ko",
        "갤럭시 S24는 2024년 1월에 출시됐고, 가격은 $799였습니다!",
        ["갤럭시 S 이십사는 이천이십사년 일월에 출시됐고,", "가격은 칠백구십구 달러였습니다!"],
    ),
    (
        "ko",
        "어제 친구들과 함께 시장에 가서 과일을 많이 샀는데 너무 비싸지만 맛있어서 다음 주에도 다시 가고 싶다고 "
        "생각했습니다",
        [
            "어제 친구들과 함께 시장에 가서 과일을 많이 샀는데 너무 비싸지만",
            "맛있어서 다음 주에도 다시 가고 싶다고 생각했습니다",
        ],
    ),
    (
        "ko",
        "회의는 12:30에 시작합니다. 참석자는 21명이고 온도는 25°C입니다.",
        ["회의는 열두 시 삼십 분에 시작합니다.", "참석자는 스물한 명이고 온도는 섭씨 이십오 도입니다."],
    ),
]
LIMITS = [
    {},
    {"min_chars": 1, "max_chars": 12},
    {"min_chars": 15, "max_chars": 16},
    {"min_chars": 30, "max_chars": 200},
]


def split(language: str, pieces: list[str], **limits: int) -> list[str]:
    splitter = PhraseSplitter(language, **limits)
    phrases = [phrase for piece in pieces for phrase in splitter.push(piece)]
    return phrases + splitter.flush()


def tokens(text: str) -> list[str]:
    """Chunks like a translator's streamed tokens: a word with its leading space, one digit, one other character."""
    return re.findall(r"\s*[^\W\d_]+|\s*\d|\s*\S|\s+", text)


def random_pieces(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(text):
        size = rng.randint(1, 9)
        pieces.append(text[i : i + size])
        i += size
    return pieces


@pytest.mark.parametrize("language, text, expected", PHRASES)
def test_phrases_of_sentences_in_all_four_languages(language, text, expected):
    assert split(language, [text]) == expected


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("limits", LIMITS)
def test_phrases_do_not_depend_on_how_the_text_arrives(language, limits):
    text = TEXTS[language]
    whole = split(language, [text], **limits)
    assert split(language, list(text), **limits) == whole
    assert split(language, tokens(text), **limits) == whole
    for seed in range(20):
        assert split(language, random_pieces(text, seed), **limits) == whole


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("limits", LIMITS)
def test_nothing_is_lost_or_duplicated(language, limits):
    phrases = split(language, tokens(TEXTS[language]), **limits)
    assert re.sub(r"\s", "", "".join(phrases)) == re.sub(r"\s", "", speakable(TEXTS[language], language))


# Text that speakable leaves alone, so that phrase lengths are those of the input.
PLAIN = {
    "en": "so we went home and then we cooked dinner together, and after that we watched a film about the sea and the "
    "ships that sail on it for months without ever reaching a port. it was long but good; we liked it",
    "de": "wir sind dann nach Hause gegangen und haben zusammen gekocht, danach haben wir einen Film über das Meer und "
    "die Schiffe gesehen, die monatelang fahren ohne jemals einen Hafen zu erreichen. er war lang aber gut",
    "zh": "我们回家以后一起做了晚饭然后看了一部关于大海和船的电影那些船在海上航行好几个月都没有到达港口。"
    "电影很长，但是很好看",
    "ko": "우리는 집에 가서 함께 저녁을 만들었고 그 다음에 바다와 배에 관한 영화를 봤는데 배들이 몇 달 동안 항구에 "
    "도착하지 못하는 이야기였습니다. 영화는 길었지만 재미있었어요",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("min_chars, max_chars", [(None, None), (5, 20), (12, 30), (25, 60)])
def test_phrases_stay_within_min_and_max(language, min_chars, max_chars):
    splitter = PhraseSplitter(language, min_chars=min_chars, max_chars=max_chars)
    assert speakable(PLAIN[language], language) == PLAIN[language]
    pushed = [phrase for piece in tokens(PLAIN[language]) for phrase in splitter.push(piece)]
    flushed = splitter.flush()
    assert pushed and flushed
    assert all(splitter.min_chars <= len(phrase) <= splitter.max_chars for phrase in pushed)
    assert all(len(phrase) <= splitter.max_chars for phrase in flushed)


@pytest.mark.parametrize(
    "language, pieces, held",
    [
        ("en", ["It costs 3.", "5 euros, or so they say."], "It costs 3."),  # 3. may become 3.5
        ("en", ["I paid 1,", "000 dollars, then left."], "I paid 1,"),
        ("en", ["We meet at 12:", "30 today, he said."], "We meet at 12:"),
        ("en", ["Ask Dr.", " Smith, he knows it."], "Ask Dr."),
        ("en", ["Ask Dr. ", "Smith, he knows it."], "Ask Dr. "),  # a name or a new sentence: wait for it
        ("de", ["Das sind z. ", "B. Äpfel, die gut sind."], "Das sind z. "),
        ("de", ["Wir kommen am 3. ", "Mai, wenn es geht."], "Wir kommen am 3. "),
        ("zh", ["“你好。", "”他说完就走了。"], "“你好。"),  # a closing quote belongs to the phrase
        ("ko", ["가격은 3.", "5달러였어요. 싸네요."], "가격은 3."),
    ],
)
def test_a_phrase_waits_until_its_end_is_certain(language, pieces, held):
    splitter = PhraseSplitter(language, min_chars=1, max_chars=100)
    assert splitter.push(pieces[0]) == []
    later = splitter.push(pieces[1]) + splitter.flush()
    assert later == split(language, ["".join(pieces)], min_chars=1, max_chars=100)
    assert re.sub(r"\s", "", "".join(later)) == re.sub(r"\s", "", speakable("".join(pieces), language))
    assert held in "".join(pieces)


@pytest.mark.parametrize(
    "language, text, expected",
    [
        (
            "en",
            "Mr. and Mrs. J. K. Rowling arrived at 5 p.m. Then they left.",
            ["Mister and Missus J. K. Rowling arrived at five p.m.", "Then they left."],
        ),
        ("en", "We sell pears etc. and more. Really.", ["We sell pears et cetera and more.", "Really."]),
        (
            "de",
            "Er kam am 3. Mai. Sie kam am 4. Juni, später.",
            ["Er kam am dritten Mai.", "Sie kam am vierten Juni,", "später."],
        ),
        (
            "de",
            "Es waren genau 3. Dann gingen wir, ohne Eile.",
            ["Es waren genau drei.", "Dann gingen wir,", "ohne Eile."],
        ),
        (
            "de",
            "Obst usw. und Gemüse usw. Dann ging er.",
            ["Obst und so weiter und Gemüse und so weiter.", "Dann ging er."],
        ),
    ],
)
def test_abbreviations_and_ordinals_do_not_end_sentences(language, text, expected):
    assert split(language, tokens(text), min_chars=5, max_chars=100) == expected


def test_short_sentences_join_until_the_minimum():
    assert split("en", ["Yes. Sure. I will come, and bring the wine."]) == [
        "Yes. Sure. I will come,",
        "and bring the wine.",
    ]


def test_german_commas_before_lowercase_clauses_cut_and_list_commas_do_not():
    phrases = split("de", ["Wir kaufen Äpfel, Birnen, Pflaumen, Kirschen, die wir mögen."], min_chars=5)
    assert phrases == ["Wir kaufen Äpfel, Birnen, Pflaumen, Kirschen,", "die wir mögen."]


def test_a_long_run_without_punctuation_prefers_a_conjunction_to_the_last_space():
    phrases = split("en", ["one two three four five six seven eight nine ten and eleven twelve thirteen"], max_chars=60)
    assert phrases == ["one two three four five six seven eight nine ten", "and eleven twelve thirteen"]


def test_without_a_conjunction_a_long_run_is_cut_before_a_preposition():
    phrases = split("en", ["I have been thinking about the plan for a long time without a clear idea"], max_chars=50)
    assert phrases == ["I have been thinking about the plan", "for a long time without a clear idea"]


def test_korean_is_cut_after_a_clause_ending_but_not_inside_a_verb_with_its_auxiliary():
    phrases = split(
        "ko", ["나는 내일 아침에 바다에 가고 싶고 저녁에는 집에서 쉬고 있을 거예요"], min_chars=5, max_chars=20
    )
    assert phrases == ["나는 내일 아침에 바다에 가고 싶고", "저녁에는 집에서 쉬고 있을 거예요"]


def test_a_word_longer_than_the_maximum_is_not_cut():
    url = "https://example.com/" + "a" * 80
    assert split("en", [f"Open {url} now please"], min_chars=5, max_chars=40) == [f"Open {url}", "now please"]


def test_chinese_without_any_preference_is_cut_at_the_maximum():
    text = "我们明天早上去北京参观故宫博物院和天安门广场看看"
    phrases = split("zh", [text], min_chars=4, max_chars=10)
    assert phrases == ["我们明天早上去北京参", "观故宫博物院和天安门", "广场看看"]


def test_flush_returns_the_rest_and_the_splitter_starts_over():
    splitter = PhraseSplitter("en")
    assert splitter.push("Short one") == []
    assert splitter.flush() == ["Short one"]
    assert splitter.flush() == []
    assert splitter.push("Left over") == []
    assert splitter.flush() == ["Left over"]
    assert splitter.push("  ") == [] and splitter.flush() == []


def test_phrases_without_words_are_dropped():
    assert split("en", ["Good night, everyone. - ..."], min_chars=3) == ["Good night,", "everyone."]


def test_defaults_per_language_give_cjk_fewer_characters():
    limits = {language: (s.min_chars, s.max_chars) for language in LANGUAGES for s in [PhraseSplitter(language)]}
    assert limits["zh"][1] < limits["ko"][1] < limits["en"][1] <= limits["de"][1]


@pytest.mark.parametrize(
    "language, limits",
    [("fr", {}), ("en", {"min_chars": 0}), ("en", {"min_chars": 30, "max_chars": 30})],
)
def test_bad_arguments_are_refused(language, limits):
    with pytest.raises(ValueError):
        PhraseSplitter(language, **limits)
