"""Word error rate of transcripts against references, after the usual normalisation, so that the tests, the ASR
benchmark and any evaluation of the product's transcripts count errors the same way."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()


def normalise(text: str) -> list[str]:
    """The words of `text` in lower case, without punctuation, small numbers spelled out: a digit or a comma is
    not an error of the recogniser."""
    text = re.sub(r"\d+", lambda m: _NUMBERS[int(m.group())] if int(m.group()) < len(_NUMBERS) else m.group(), text)
    return re.sub(r"[^\w\s']|'(?!\w)", " ", text.lower()).replace("-", " ").split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions that turn the hypothesis into the reference, words in the
    reference), so errors over several texts add up before the rate is taken."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))  # edit distances of the reference so far to each prefix of the hypothesis
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[-1], len(ref)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Errors over all pairs divided by all reference words."""
    counts = [word_errors(ref, hyp) for ref, hyp in zip(references, hypotheses, strict=True)]
    return sum(errors for errors, _ in counts) / sum(words for _, words in counts)
