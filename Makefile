# Two entry points: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= tiny
TO ?= de

.PHONY: run sample test lint gpu-wheels clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
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

# Wheels for a lent GPU machine, whose image lacks this transformers: carry .whl and run bench/gpu.sh there.
gpu-wheels: $(STAMP)
	rm -rf .whl
	$(BIN)/python -m pip download --no-deps --only-binary=:all: -d .whl \
		transformers==$$($(BIN)/python -c 'import transformers; print(transformers.__version__)')

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
