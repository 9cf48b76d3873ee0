"""What the pipeline simulation (bench/simulation.py) charges for each model call on one H100 SXM, and where each
figure comes from: published measurements where they exist, scaled by memory bandwidth or FLOPs where only another
GPU was measured, and derived from first principles (marked so) where nothing was published."""

from __future__ import annotations

from dataclasses import dataclass

from model.asr import ASRSettings

CALIBRATION = [
    {
        "figure": "asr_ms",
        "value": 50.0,
        "what": "one whisper large-v3-turbo decode of an utterance (one 30 s window), batch 1, H100",
        "source": "https://inferencebench.io/blog/whisper-large-v3-turbo-597x-realtime-asr-benchmark/",
        "published": "H100 SXM: 120 s of audio transcribed in 0.201 s (597x real time), i.e. 50 ms per 30 s window",
    },
    {
        "figure": "asr_batch_ms",
        "value": 24.0,
        "what": "each further decode in one batch",
        "source": "https://inferencebench.io/blog/whisper-large-v3-turbo-597x-realtime-asr-benchmark/",
        "published": "404x real time at batch 32; read as 32 clips of ~10 s per 0.79 s batch (clip length assumed)",
    },
    {
        "figure": "llm_token_ms",
        "value": 6.2,
        "what": "7-8B decode step at batch 1 in vLLM on an H100 SXM",
        "source": "https://johnmusgrave.com/p/vllm-throughput-latency-sweep-on",
        "published": "Llama-3.1-8B bf16, vLLM, A100 40GB: ~75 tokens/s at one request (77% of the bandwidth roofline); "
        "scaled by memory bandwidth 3.35/1.555 TB/s (H100 SXM / A100 40GB)",
    },
    {
        "figure": "llm_batch_growth",
        "value": 1 / 32,
        "what": "share by which a decode step grows per running sequence (step doubles at 32)",
        "source": "https://johnmusgrave.com/p/vllm-throughput-latency-sweep-on",
        "published": "batching is almost free up to 8 concurrent requests (6.6x throughput), per-token latency climbs "
        "past that; linear growth assumed (the bandwidth roofline alone gives ~+7% at 32 short prompts)",
    },
    {
        "figure": "llm_prefill_ms",
        "value": 25.0,
        "what": "prefill of a ~400-token translation prompt, 7-8B, H100",
        "source": "derived",
        "published": "2 x 7.6e9 parameters x 400 tokens = 6 TFLOP at ~40% of the H100's 989 bf16 TFLOPS = 15 ms, "
        "plus one scheduler step",
    },
    {
        "figure": "local_token_ms",
        "value": 20.0,
        "what": "7B decode step with transformers generate() (eager, no CUDA graph), the `backend: local` path",
        "source": "derived",
        "published": "launch-bound: 28 layers x ~20 kernels x ~10 us plus Python per step; no published H100 figure",
    },
    {
        "figure": "tts_step_ms",
        "value": 5.0,
        "what": "one Higgs decode step over all 16 slots (CUDA graph, fixed batch shape), H100",
        "source": "https://github.com/boson-ai/higgs-audio/blob/main/examples/vllm/README.md",
        "published": "~1500 audio tokens/s on an A100 40GB (60 s of audio per s); x2.15 memory bandwidth on an H100 "
        "= ~3200 frames/s, 16 slots a step = 5 ms; the roofline (7.2 GB weights + 3.8 GB KV of 16 x 2048 "
        "tokens at 3.35 TB/s = 3.3 ms) agrees",
    },
    {
        "figure": "tts_prefill_ms",
        "value": 20.0,
        "what": "prefill of a Higgs prompt (voice reference, context phrases, text: ~600 tokens), 3.6B active",
        "source": "derived",
        "published": "2 x 3.6e9 x 600 = 4.3 TFLOP at ~30% of 989 TFLOPS = 15 ms, plus eager launch overhead",
    },
    {
        "figure": "codec_chunk_ms",
        "value": 2.0,
        "what": "one chunked codec decode (27-frame window) on the GPU",
        "source": "bench/results/codec_cpu.json",
        "published": "188 ms per chunk on 2 CPU cores; scaled by fp32 throughput (~67 TFLOPS H100 vs ~0.1 for two "
        "cores) to ~0.3 ms, plus ~50 conv kernel launches",
    },
]


@dataclass(frozen=True)
class Costs:
    """The GPU cost model, in ms; the defaults are `CALIBRATION`'s values."""

    asr_ms: float = 50.0
    asr_batch_ms: float = 24.0
    asr_batching: bool = False  # False: each faster-whisper worker decodes one call at a time, in arrival order
    asr_workers: int = getattr(ASRSettings(), "num_workers", 1)  # decodes at once (overlapping on the GPU)
    llm_engine: str = "remote"  # remote: a continuous-batching server; local: generate() behind a lock
    llm_token_ms: float = 6.2
    llm_batch_growth: float = 1 / 32
    llm_prefill_ms: float = 25.0
    local_token_ms: float = 20.0
    tts_step_ms: float = 5.0
    tts_prefill_ms: float = 20.0
    tts_slots: int = 16
    tts_openings_first: bool = False  # admit an utterance's first phrase before later phrases (model/higgs.py: FIFO)
    codec_chunk_ms: float = 2.0
    first_chunk_frames: int = 5  # model/codec.py's defaults
    chunk_frames: int = 10
    lookahead_frames: int = 7
    chars_per_second: float = 14.0  # how fast the TTS speaks

    def asr_batch(self, size: int) -> float:
        return self.asr_ms + self.asr_batch_ms * (size - 1)

    def token_step(self, running: int) -> float:
        if self.llm_engine == "local":
            return self.local_token_ms
        return self.llm_token_ms * (1 + self.llm_batch_growth * (running - 1))
