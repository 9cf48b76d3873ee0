"""Codec benchmark: how closely chunked decoding matches a one-shot decode, what it adds to latency, what it costs.

Builds the audio tokenizer at full size with random weights (float32), decodes random codes once whole and then
chunk by chunk for a grid of `CodecSettings`, pushing one frame at a time as the generator does. SNR compares the
chunked output with the one-shot decode; "code SNR" compares the same error with only the part of the output that
depends on the codes, because a random-weight decoder puts most of its energy into a code-independent hum (DC and
tones from the upsampling biases) that a trained decoder does not have. The default settings are also measured
with three more weight seeds, since the raw SNR moves with the weight draw.

    python bench/codec.py --json bench/results/codec_cpu.json
    python bench/codec.py --device cuda --json bench/results/codec_h100.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

FRAME_MS = 40
FIRST_CHUNKS = (3, 5, 8)
CHUNKS = (10, 15, 25)
LEFTS = (0, 5, 10, 20)
LOOKAHEADS = (0, 2, 4, 6, 7, 8)
EXTRA_SEEDS = (1, 2, 3)


def main(argv: list[str] | None = None) -> int:
    from model.codec import CodecSettings, full_size_codec

    parser = argparse.ArgumentParser(prog="s2st bench codec", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="length of the random code sequence (25 per second)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    from bench import device_name, write_report

    # Plain float32 convolutions: TF32 rounding would otherwise be counted as seam error.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

    default = CodecSettings()
    codec = full_size_codec(seed=0).to(args.device)
    case = _Case(codec, args.frames, seed=0)
    runs = []
    for settings in _grid(default):
        runs.append(_measure(case, settings))
        _print_row(runs[-1], header=len(runs) == 1)
    by_seed = [_seed_row(0, next(run for run in runs if run["settings"] == asdict(default)))]
    for seed in EXTRA_SEEDS:
        other = _Case(full_size_codec(seed=seed).to(args.device), args.frames, seed=seed)
        by_seed.append(_seed_row(seed, _measure(other, default, timed=False)))
    print(
        "default settings over weight seeds: "
        + ", ".join(f"seed {row['seed']}: {row['snr_db']:.1f} dB (code {row['code_snr_db']:.1f})" for row in by_seed)
    )
    report = {
        "benchmark": "codec",
        "device": device_name(args.device),
        "torch": torch.__version__,
        "codec": _codec_facts(codec),
        "frames": args.frames,
        "runs": runs,
        "default": {
            **next(run for run in runs if run["settings"] == asdict(default)),
            **asdict(default),
            "snr_db_min_over_seeds": min(row["snr_db"] for row in by_seed),
            "code_snr_db_min_over_seeds": min(row["code_snr_db"] for row in by_seed),
            "seeds": by_seed,
        },
    }
    write_report(args.json, report)
    return 0


class _Case:
    """One codec and one random code sequence, with its one-shot decode and the energy its codes explain."""

    def __init__(self, codec, frames: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        shape = (frames, codec.config.num_quantizers)
        self.codec = codec
        self.codes = torch.randint(0, codec.config.codebook_size, shape, generator=generator)
        other = torch.randint(0, codec.config.codebook_size, shape, generator=generator)
        self.reference = _decode(codec, self.codes)
        # Two decodes share the code-independent part; their difference holds twice the code-dependent energy.
        self.code_energy = float(np.sum((self.reference - _decode(codec, other)) ** 2) / 2)


def _decode(codec, codes: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        audio = codec.decode(codes.T.unsqueeze(0).to(codec.device)).audio_values[0, 0]
    return audio.float().clamp(-1.0, 1.0).cpu().numpy()


def _grid(default) -> list:
    """Context and lookahead at the default chunking, then chunk sizes at the default context; default included."""
    from model.codec import CodecSettings

    grid = [
        CodecSettings(default.first_chunk_frames, default.chunk_frames, left, lookahead)
        for left in LEFTS
        for lookahead in LOOKAHEADS
    ]
    grid += [
        CodecSettings(first, chunk, default.left_frames, default.lookahead_frames)
        for chunk in CHUNKS
        for first in FIRST_CHUNKS
    ]
    grid.append(default)
    return list(dict.fromkeys(grid))


def _measure(case: _Case, settings, timed: bool = True) -> dict:
    """Push the codes one frame at a time (as generated) and time every push that emits a chunk."""
    from model.codec import ChunkedCodecDecoder

    decoder = ChunkedCodecDecoder(case.codec, settings)
    pieces, chunk_ms = [], []
    for frame in case.codes.unsqueeze(1) if timed else (case.codes,):
        began = time.perf_counter()
        pcm = decoder.push(frame)
        if len(pcm):
            chunk_ms.append((time.perf_counter() - began) * 1000)
            pieces.append(pcm)
    began = time.perf_counter()
    pieces.append(decoder.finish())
    finish_ms = (time.perf_counter() - began) * 1000
    chunked = np.concatenate(pieces)
    assert len(chunked) == len(case.reference), "every sample must be emitted exactly once"
    error = float(np.sum((case.reference - chunked) ** 2))
    run = {
        "settings": asdict(settings),
        "snr_db": _db(float(np.sum(case.reference**2)), error),
        "code_snr_db": _db(case.code_energy, error),
        "added_latency_ms": (settings.first_chunk_frames + settings.lookahead_frames) * FRAME_MS,
    }
    if timed:
        later = chunk_ms[1:] or chunk_ms
        run |= {
            "first_chunk_decode_ms": chunk_ms[0],
            "decode_ms_per_chunk": statistics.median(later),
            "rtf": (sum(chunk_ms) + finish_ms) / (len(chunked) / case.codec.config.sample_rate * 1000),
        }
    return run


def _db(signal: float, error: float) -> float:
    return float(10 * np.log10(signal / error))


def _seed_row(seed: int, run: dict) -> dict:
    return {"seed": seed, "snr_db": run["snr_db"], "code_snr_db": run["code_snr_db"]}


def _codec_facts(codec) -> dict:
    config = codec.config
    acoustic = config.acoustic_model_config
    return {
        "sample_rate": config.sample_rate,
        "hop_length": config.hop_length,
        "frame_rate": config.frame_rate,
        "codebooks": config.num_quantizers,
        "codebook_size": config.codebook_size,
        "codebook_dim": config.codebook_dim,
        "acoustic_hidden_size": acoustic.hidden_size,
        "decoder_hidden_size": acoustic.decoder_hidden_size,
        "upsampling_ratios": list(acoustic.upsampling_ratios),
        "semantic_hidden_size": config.semantic_model_config.hidden_size,
        "decoder_parameters": sum(p.numel() for p in codec.acoustic_decoder.parameters()),
        "dtype": str(next(codec.parameters()).dtype).removeprefix("torch."),
        "weights": "random, class initialisation, codebooks normal(0, 1); seed 0 unless stated",
        "receptive_field_frames": _receptive_field(codec),
    }


def _receptive_field(codec, frames: int = 41) -> int:
    """How many frames away a change of one frame's codes still changes the output (the same on both sides).

    The threshold is far below the weakest real influence (about -100 dB at 10 frames) and far above float32
    rounding, which GPU convolution algorithms may spread over the whole output.
    """
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(0, codec.config.codebook_size, (frames, codec.config.num_quantizers), generator=generator)
    changed = codes.clone()
    changed[frames // 2] = (changed[frames // 2] + 1) % codec.config.codebook_size
    reference = _decode(codec, codes)
    difference = np.abs(reference - _decode(codec, changed)).reshape(frames, -1).max(axis=1)
    touched = np.flatnonzero(difference > 1e-6 * np.abs(reference).max())
    return int(max(frames // 2 - touched[0], touched[-1] - frames // 2))


def _print_row(run: dict, header: bool) -> None:
    if header:
        print(
            f"{'chunk':>5} {'first':>5} {'L':>3} {'R':>3} {'SNR dB':>7} {'code SNR':>8} {'added ms':>8}"
            f" {'ms/chunk':>8} {'RTF':>6}"
        )
    s = run["settings"]
    print(
        f"{s['chunk_frames']:>5} {s['first_chunk_frames']:>5} {s['left_frames']:>3} {s['lookahead_frames']:>3}"
        f" {run['snr_db']:>7.1f} {run['code_snr_db']:>8.1f} {run['added_latency_ms']:>8}"
        f" {run['decode_ms_per_chunk']:>8.1f} {run['rtf']:>6.3f}",
        flush=True,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
