# Two entry points: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= tiny
TO ?= de

.PHONY: run sample test lint clean

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
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
