"""Load: 20 native sessions stream real speech in real time for about a minute into one `s2st serve` process."""

import pytest

from bench.load import PROFILE, run

pytestmark = [pytest.mark.slow, pytest.mark.speech]

SESSIONS = 20
GROWTH_LIMIT_MB = 2048  # above the loaded models; the recorded run grew 566 MB (bench/results/load_cpu_tiny.json)


async def test_twenty_live_sessions_all_get_every_final_transcript_and_memory_stays_bounded(capsys):
    result = await run(str(PROFILE), SESSIONS)
    figures = result.to_json()
    with capsys.disabled():
        print(
            f"\nload: {SESSIONS} sessions, server RSS idle {figures['server_rss_mb_idle']} MB, "
            f"peak {figures['server_rss_mb_peak']} MB, end {figures['server_rss_mb_end']} MB, "
            f"TTFA p50 {figures['ttfa_ms_p50']} ms, wall {figures['wall_s']} s"
        )
    assert not result.errors
    assert result.finals == [result.utterances_spoken] * SESSIONS
    assert result.peak_rss_mb - result.idle_rss_mb < GROWTH_LIMIT_MB
