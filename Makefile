# The two commands of the README's quick start: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= .tunebot

.PHONY: run test install lint demo clean bench-privacy

$(BIN)/.installed: pyproject.toml scripts/install.sh
	scripts/install.sh $(VENV) dev
	touch $@

install: $(BIN)/.installed

# Offline demo: import the bundled example Slack export, tune once, show the result, ask a question.
run: install
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot import bot/demo/slack_export
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot tune --now
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot status
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot ask "What port does the billing service listen on?"

test: install
	$(BIN)/python -m pytest -q

# Recall per entity type, text kept, and throughput against Presidio's default engine (docs/privacy.md).
bench-privacy: install
	$(BIN)/python -m tests.bench.privacy

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) $(DATA)
