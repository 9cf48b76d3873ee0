#!/usr/bin/env bash
# The GPU figures in one command on a lent device machine, whose image has torch but an older transformers and
# none of our other packages (bench/README.md, "On a lent GPU"). Prepare here with `make gpu-wheels`, then:
#
#   bash bench/gpu.sh OUT_DIR [check] [codec] [tts] [translate]     (default: check codec tts)
#
# `check` runs tests/model/test_higgs.py on the GPU: greedy parity with generate() through the captured CUDA
# graph. Results land in OUT_DIR as <bench>_<gpu>[_full].json with a log of each step. DEVICE=cpu MODEL=tiny
# rehearses the same commands on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash bench/gpu.sh OUT_DIR [check] [codec] [tts] [translate]}
shift
benches=${*:-check codec tts}
device=${DEVICE:-cuda}
model=${MODEL:-full}
python=${PYTHON:-python3}
for bench in $benches; do
    case $bench in
        check | codec | tts | translate) ;;
        *) echo "unknown step '$bench': choose among check, codec, tts, translate" >&2; exit 2 ;;
    esac
done

if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/s2st-site .whl/*.whl
    export PYTHONPATH=/tmp/s2st-site
fi
"$python" - "$device" <<'EOF'
import sys

import torch
import transformers

if not hasattr(transformers, "HiggsAudioV2ForConditionalGeneration"):
    sys.exit(
        f"transformers {transformers.__version__} here has no Higgs Audio v2: run `make gpu-wheels` on the "
        "development machine and carry .whl (bench/README.md, 'On a lent GPU')"
    )
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("torch sees no GPU here: run on the device machine, or rehearse with DEVICE=cpu MODEL=tiny")
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, {gpu}")
EOF
if [ "$device" = cuda ]; then
    # "NVIDIA H100 80GB HBM3" -> h100, as results files are named.
    name=$("$python" -c 'import torch; print(torch.cuda.get_device_name().split()[1].lower())')
else
    name=cpu
fi
mkdir -p "$out"
export PYTHONUNBUFFERED=1 S2ST_CACHE_DIR=${S2ST_CACHE_DIR:-/tmp/s2st-cache}
failed=()  # a failed step is reported at the end; the others still run
for bench in $benches; do
    if [ "$bench" = check ]; then
        echo "== check: tests/model/test_higgs.py on $device"
        S2ST_TEST_DEVICE=$device "$python" -m pytest -q -p no:cacheprovider tests/model/test_higgs.py 2>&1 |
            tee "$out/check.log" || failed+=(check)
        continue
    fi
    case $bench in
        codec) args=(--device "$device" --json "$out/codec_$name.json") ;;
        tts) args=(--backends higgs --model "$model" --device "$device" --json "$out/tts_${name}_$model.json") ;;
        translate) args=(--model "$model" --device "$device" --json "$out/translate_${name}_$model.json") ;;
    esac
    echo "== $bench ${args[*]}"
    "$python" "bench/$bench.py" "${args[@]}" 2>&1 | tee "$out/$bench.log" || failed+=("$bench")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (see their logs in $out)" >&2
    exit 1
fi
