# Two entry points: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= tiny
TO ?= de

LOCK := requirements.lock
PIP_TOOLS := pip-tools==7.6.2
# What the lock is made from: pyproject.toml's dependency tables, hashed. The lock records it on its first line.
LOCK_INPUTS = $(shell $(PYTHON) -c 'import hashlib, tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
	print(hashlib.sha256(repr([p["build-system"]["requires"], p["project"]["requires-python"], \
	p["project"]["dependencies"], p["project"]["optional-dependencies"]]).encode()).hexdigest())')

.PHONY: run sample test lint lock gpu-wheels clean

# Everything installs from the lock, hash-checked, so a fresh clone gets the same versions tomorrow as today.
$(STAMP): pyproject.toml $(LOCK)
	@grep -qxF '# inputs: $(LOCK_INPUTS)' $(LOCK) || { echo "$(LOCK) is stale: the dependencies in \
	pyproject.toml changed since it was made. Refresh it with \`make lock\` and commit both files." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar on --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m model.runtime
	@touch $(STAMP)

# The server: open http://127.0.0.1:8765/ (PROFILE=default for the real models, PORT=… to move it).
run: $(STAMP)
	$(BIN)/s2st serve --profile $(PROFILE) $(if $(PORT),--port $(PORT))

# The bundled sample translated to a file, no server needed.
sample: $(STAMP)
	@mkdir -p out
	$(BIN)/s2st translate clients/samples/booking_en.wav --from en --to $(TO) --profile $(PROFILE) \
		-o out/booking_$(TO).wav --captions out/booking_$(TO).json

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolves the lock after a change to pyproject.toml, keeping every pin that still fits
# (`rm requirements.lock` first to move everything to the newest releases).
lock:
	@test -x .venv-lock/bin/pip-compile || { $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet $(PIP_TOOLS); }
	CUSTOM_COMPILE_COMMAND='make lock' .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--extra test --all-build-deps --strip-extras --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml
	sed -i '1i # inputs: $(LOCK_INPUTS)' $(LOCK)

# Wheels for a lent GPU machine, whose image lacks this transformers: carry .whl and run bench/gpu.sh there.
gpu-wheels: $(STAMP)
	rm -rf .whl
	$(BIN)/python -m pip download --no-deps --only-binary=:all: -d .whl \
		transformers==$$($(BIN)/python -c 'import transformers; print(transformers.__version__)')

clean:
	rm -rf $(VENV) .venv-lock out .pytest_cache .ruff_cache
