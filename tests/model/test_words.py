from model.words import LocalAgreement, is_han, join_words, normalise, split_words


def test_words_split_han_characters_and_join_back():
    words = split_words("我们需要 hello, world.")
    assert words == ["我", "们", "需", "要", "hello,", "world."]
    assert join_words(words) == "我们需要 hello, world."
    assert normalise("Hello,  World!") == normalise("hello world") == "hello world"


def test_local_agreement_commits_the_prefix_two_hypotheses_in_a_row_share():
    agreement = LocalAgreement()
    assert agreement.push(["He", "was"]) == ["He", "was"] and agreement.committed == []
    assert agreement.push(["He", "Was", "not"]) == ["not"]
    assert agreement.committed == ["He", "Was"]  # compared normalised
    assert agreement.push(["nut", "an"]) == ["nut", "an"]
    assert agreement.committed == ["He", "Was"]


def test_committed_words_need_no_agreement_and_the_next_hypothesis_starts_afresh():
    agreement = LocalAgreement()
    agreement.push(["yes,"])
    agreement.commit(["yes,", "of", "course,"])
    assert agreement.committed == ["yes,", "of", "course,"]
    assert agreement.push(["and"]) == ["and"] and agreement.committed == ["yes,", "of", "course,"]


def test_han_characters_are_told_from_kana_hangul_and_latin():
    assert is_han("中") and is_han("㐀") and is_han("豈")
    assert not any(is_han(char) for char in "かカ한a1")
