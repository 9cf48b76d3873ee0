# Two entry points: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= tiny
TO ?= de

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[test]'
	@touch $(STAMP)

# Until the server lands, `run` translates the bundled sample (PROFILE=default for the real models).
run: $(STAMP)
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
