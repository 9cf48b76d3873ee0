#!/usr/bin/env bash
# The GPU figures in one command on a lent device machine, whose image has torch but an older transformers and
# none of our other packages (bench/README.md, "On a lent GPU"). Prepare here with `make gpu-wheels`, then:
#
#   bash bench/gpu.sh OUT_DIR [codec] [tts] [translate]     (default: codec tts)
#
# Results land in OUT_DIR as <bench>_<gpu>[_full].json with a log per bench. DEVICE=cpu MODEL=tiny rehearses
# the same commands on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash bench/gpu.sh OUT_DIR [codec] [tts] [translate]}
shift
benches=${*:-codec tts}
device=${DEVICE:-cuda}
model=${MODEL:-full}
python=${PYTHON:-python3}

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
for bench in $benches; do
    case $bench in
        codec) args=(--device "$device" --json "$out/codec_$name.json") ;;
        tts) args=(--model "$model" --device "$device" --json "$out/tts_${name}_$model.json") ;;
        translate) args=(--model "$model" --device "$device" --json "$out/translate_${name}_$model.json") ;;
        *) echo "unknown bench '$bench': choose among codec, tts, translate" >&2; exit 2 ;;
    esac
    echo "== $bench ${args[*]}"
    "$python" "bench/$bench.py" "${args[@]}" 2>&1 | tee "$out/$bench.log"
done
