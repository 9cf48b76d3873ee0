"""The pipeline simulation's virtual clock, its GPU cost models and its determinism (bench/simulation.py)."""

import asyncio

import pytest

from bench.calibration import Costs
from bench.simulation import (
    BatchQueue,
    HiggsModel,
    LLMEngine,
    SimTranslator,
    SimTTS,
    VirtualLoop,
    pieces,
    punctuated,
)


def _run(main):
    loop = VirtualLoop()
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return loop, runner.run(main(loop))


def test_sleeping_costs_virtual_time_only_and_a_computing_thread_holds_the_clock():
    async def main(loop):
        await asyncio.sleep(0.2)
        slept = loop.time()
        await asyncio.to_thread(sum, range(10**6))  # real compute: no virtual time passes
        computed = loop.time()
        await asyncio.gather(asyncio.sleep(1.5), asyncio.sleep(0.5))
        return slept, computed, loop.time()

    _, (slept, computed, end) = _run(main)
    assert slept == pytest.approx(0.2) and computed == pytest.approx(0.2) and end == pytest.approx(1.7)


def test_a_parked_thread_wakes_at_its_virtual_time_while_the_loop_runs_on():
    async def main(loop):
        ticks = []

        async def tick():
            for _ in range(3):
                await asyncio.sleep(0.1)
                ticks.append(round(loop.time(), 3))

        def model_call():
            loop.park(lambda wake: loop.call_later(0.25, wake))
            return loop.time()

        woke, _ = await asyncio.gather(asyncio.to_thread(model_call), tick())
        return woke, ticks

    _, (woke, ticks) = _run(main)
    assert woke == pytest.approx(0.25) and ticks == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("batching", [True, False])
def test_calls_meeting_at_the_asr_cost_one_batch_or_queue_one_by_one(batching):
    costs = Costs()

    async def main(loop):
        queue = BatchQueue(loop, costs.asr_batch, batching)

        def call(session):
            queue.call(session, urgent=session == 3)
            return session, loop.time() * 1000

        done = await asyncio.gather(*(asyncio.to_thread(call, s) for s in range(4)))
        return dict(done), queue.batches

    _, (finished, batches) = _run(main)
    if batching:
        assert (
            batches == [4]
            and list(finished.values()) == pytest.approx([costs.asr_batch(4)] * 4)
            and costs.asr_batch(4) == 50 + 3 * 24
        )
    else:
        assert batches == [1, 1, 1, 1]  # arrival order, the final (3) included: no priority without batching
        assert sorted(finished.values()) == pytest.approx([50, 100, 150, 200])


def test_the_translation_engine_steps_every_running_sequence_together():
    costs = Costs()

    async def main(loop):
        engine = LLMEngine(loop, costs)

        def translate(session, text):
            answer = SimTranslator(engine, session).translate(text, "English", "German")
            return answer, loop.time() * 1000

        return await asyncio.gather(
            asyncio.to_thread(translate, 0, "one two"), asyncio.to_thread(translate, 1, "three four five six")
        )

    _, ((first, first_ms), (second, second_ms)) = _run(main)
    assert first == "One two." and second == "Three four five six."
    two, one = costs.token_step(2), costs.token_step(1)
    short, long = len(pieces(first)), len(pieces(second))
    assert first_ms == pytest.approx(2 * costs.llm_prefill_ms + short * two)  # both joined in the first step
    assert second_ms == pytest.approx(first_ms + (long - short) * one)


def test_the_local_engine_serves_one_translation_at_a_time():
    costs = Costs(llm_engine="local")

    async def main(loop):
        engine = LLMEngine(loop, costs)

        def translate(session):
            SimTranslator(engine, session).translate("one two", "English", "German")
            return loop.time() * 1000

        return await asyncio.gather(*(asyncio.to_thread(translate, s) for s in range(2)))

    _, times = _run(main)
    each = costs.llm_prefill_ms + len(pieces(punctuated("one two"))) * costs.local_token_ms
    assert times == pytest.approx([each, 2 * each])


def test_a_phrase_first_chunk_waits_for_prefill_delay_pattern_first_chunk_and_lookahead():
    costs = Costs()

    async def main(loop):
        stream = SimTTS(HiggsModel(loop, costs), costs, 0).open(None, "de")
        stream.say("x" * 70, "tag")  # 5 s of speech at 14 characters a second: 125 frames
        stream.close()
        return [(loop.time() * 1000, chunk) async for chunk in stream]

    _, chunks = _run(main)
    steps = 7 + costs.first_chunk_frames + costs.lookahead_frames  # the prefill samples the first of them
    first_ms = costs.tts_prefill_ms + steps * costs.tts_step_ms + costs.codec_chunk_ms
    assert chunks[0][0] == pytest.approx(first_ms)
    assert [c.first_frame for _, c in chunks][:3] == [0, 5, 15] and chunks[-1][1].end == "eos"
    assert sum(len(c.pcm) for _, c in chunks) == 125 * 960 and all(c.tag == "tag" for _, c in chunks)


@pytest.mark.speech
def test_two_simulations_give_identical_figures():
    from agent.translation import TranslationSettings
    from bench import pipeline
    from bench.replay import ReplayVAD
    from model.vad import SileroVAD, VADSettings

    audio, texts = pipeline.held_speech(readings=2)
    replay = ReplayVAD.record(SileroVAD(), VADSettings(), audio, pipeline.FRAME)
    utterances = replay.utterances(texts)
    assert len(utterances) == 2
    runs = [pipeline._simulate(3, TranslationSettings(), Costs(), replay, utterances, audio) for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]["utterances"] == 6 and not runs[0]["errors"]
