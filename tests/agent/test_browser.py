"""A real browser against the real server: headless Chromium's fake microphone plays a recording into the page.

Needs the Debian `chromium` package (`.ci/run` installs it). Without it the test is skipped, unless
S2ST_REQUIRE_BROWSER is set, as CI sets it, in which case a missing browser is a failure.
"""

import asyncio
import json
import os
import shutil

import pytest
from playwright.async_api import async_playwright
from websockets.asyncio.client import connect

from agent.config import ServerConfig
from agent.server import Server
from streaming.audio import mulaw_encode
from tests.agent.test_twilio_route import _call_audio, _media, _start
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


@pytest.fixture
async def server(tiny_higgs_models):
    server = Server(tiny_higgs_models, ServerConfig(port=0, shutdown_grace_s=5.0))
    await server.start("127.0.0.1", 0)
    yield server
    await server.shutdown()


async def _start_page(playwright, chromium: str, url: str, problems: list[str]):
    """The page at `url` in a new headless Chromium, English into German chosen and Start pressed; the page's
    uncaught errors go into `problems`. Returns the browser and the page."""
    browser = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
    page = await browser.new_page()
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(url)
    await page.select_option("#from", "en")
    await page.select_option("#to", "de")
    await page.click("#start")
    return browser, page


async def _hears_speech(page) -> None:
    """Translated speech arrives over the peer connection: the browser's own receive statistics say so."""
    await page.wait_for_function(
        "window.s2st.inboundAudio().then(a => a.totalAudioEnergy > 0.001)", timeout=90_000, polling=250
    )


async def test_the_page_captions_the_speaker_and_plays_the_translation(chromium, server):
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser, page = await _start_page(playwright, chromium, f"http://127.0.0.1:{server.port}/", problems)
        await page.wait_for_function("window.s2st.state === 'live'", timeout=30_000)
        await page.wait_for_function("window.s2st.finals.source >= 1", timeout=90_000)
        await page.wait_for_function("window.s2st.finals.target >= 1", timeout=90_000)
        await _hears_speech(page)
        captions = await page.text_content("#source-captions")
        audio = await page.evaluate("window.s2st.inboundAudio()")
        await page.click("#stop")
        await page.wait_for_function("window.s2st.state === 'ended'", timeout=60_000)
        errors = await page.evaluate("window.s2st.errors")
        await browser.close()
    assert not problems and not errors
    heard, reference = set(normalise(captions)), normalise(english_references()[0])
    assert len(heard & set(reference)) >= len(set(reference)) // 2, (captions, reference)
    assert audio["bytesReceived"] > 0 and audio["totalSamplesReceived"] > 0


async def test_a_browser_agent_and_a_phone_caller_in_one_room_hear_each_other(chromium, server):
    """WebRTC on one side, Twilio Media Streams on the other: each hears the other's speech translated."""
    problems: list[str] = []
    async with async_playwright() as playwright, connect(f"ws://127.0.0.1:{server.port}/v1/twilio") as phone:
        url = f"http://127.0.0.1:{server.port}/?room=desk-7"
        browser, page = await _start_page(playwright, chromium, url, problems)
        await page.wait_for_function("window.s2st.state === 'live' && window.s2st.room", timeout=30_000)
        await phone.send(_start({"room": "desk-7", "source_language": "en", "target_language": "ko"}))
        await page.wait_for_function("window.s2st.room.other !== null", timeout=30_000)
        mulaw = mulaw_encode(_call_audio())
        for sequence, start in enumerate(range(0, len(mulaw), 160), start=2):
            await phone.send(_media(mulaw[start : start + 160], sequence))
        # the caller's words reach the page as the other party's translation, and its speech over WebRTC
        await page.wait_for_function("window.s2st.finals.target >= 1", timeout=120_000)
        await _hears_speech(page)
        # the page's own words (the fake microphone) reach the caller as paced media
        async with asyncio.timeout(120):
            while json.loads(await phone.recv())["event"] != "media":
                pass
        room = await page.evaluate("window.s2st.room")
        heard = await page.text_content("#target-captions")
        await phone.close()
        await page.wait_for_function("window.s2st.room.left", timeout=30_000)
        errors = await page.evaluate("window.s2st.errors")
        await browser.close()
    assert not problems and not errors
    assert room["id"] == "desk-7" and room["other"] == {"source_language": "en", "target_language": "ko"}
    assert heard.strip()
