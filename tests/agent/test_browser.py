"""A real browser against the real server: headless Chromium's fake microphone plays a recording into the page.

Needs the Debian `chromium` package (`.ci/run` installs it). Without it the test is skipped, unless
S2ST_REQUIRE_BROWSER is set, as CI sets it, in which case a missing browser is a failure.
"""

import os
import shutil

import pytest

from agent.config import ServerConfig
from agent.server import Server
from tests.helpers import SPEECH, english_references, normalise

pytestmark = [pytest.mark.slow, pytest.mark.speech]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SPOKEN = SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0870.wav"  # the first of the five readings
FLAGS = [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-audio-capture={SPOKEN}",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("S2ST_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed: `apt-get install chromium chromium-driver` (.ci/run does this)")
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    return CHROMIUM


async def test_the_page_captions_the_speaker_and_plays_the_translation(tiny_higgs_models, chromium):
    from playwright.async_api import async_playwright

    server = Server(tiny_higgs_models, ServerConfig(port=0, shutdown_grace_s=5.0))
    await server.start("127.0.0.1", 0)
    problems: list[str] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
            page = await browser.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(f"http://127.0.0.1:{server.port}/")
            await page.select_option("#from", "en")
            await page.select_option("#to", "de")
            await page.click("#start")
            await page.wait_for_function("window.s2st.state === 'live'", timeout=30_000)
            await page.wait_for_function("window.s2st.finals.source >= 1", timeout=90_000)
            await page.wait_for_function("window.s2st.finals.target >= 1", timeout=90_000)
            # translated speech arrives over the peer connection: the browser's own receive statistics
            await page.wait_for_function(
                "window.s2st.inboundAudio().then(a => a.totalAudioEnergy > 0.001)", timeout=90_000, polling=250
            )
            captions = await page.text_content("#source-captions")
            audio = await page.evaluate("window.s2st.inboundAudio()")
            await page.click("#stop")
            await page.wait_for_function("window.s2st.state === 'ended'", timeout=60_000)
            errors = await page.evaluate("window.s2st.errors")
            await browser.close()
    finally:
        await server.shutdown()
    assert not problems and not errors
    heard, reference = set(normalise(captions)), normalise(english_references()[0])
    assert len(heard & set(reference)) >= len(set(reference)) // 2, (captions, reference)
    assert audio["bytesReceived"] > 0 and audio["totalSamplesReceived"] > 0
