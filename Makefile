# The two commands of the README's quick start: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= .tunebot
PORT ?= 3000
# Test processes: most tests train or serve a real model on the CPU, so two keep a 2-core machine busy
# (12 minutes for both databases on 2 cores; tests/conftest.py gives each its share of torch's threads);
# more only pay off with more cores.
TEST_WORKERS ?= 2

.PHONY: run test install browser lint demo clean bench-privacy lock

$(BIN)/.installed: pyproject.toml scripts/install.sh requirements/runtime.lock requirements/dev.lock
	scripts/install.sh $(VENV) dev
	touch $@

install: $(BIN)/.installed

# The sandbox: the real bot, a local Slack and a web page to chat in (prints its URL; Ctrl-C stops).
run: install
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot sandbox --port $(PORT)

# Headless demo: import the bundled example Slack export, tune once, show the result, ask a question.
demo: install
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot import bot/demo/slack_export
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot tune --now
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot status
	TUNEBOT_DATA_DIR=$(DATA) $(BIN)/tunebot ask "What port does the billing service listen on?"

# Chromium for the browser test (Debian packages; skipped with a notice where it cannot install).
browser:
	scripts/install-browser.sh

test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# Recall per entity type, text kept, and throughput against Presidio's default engine (docs/privacy.md).
bench-privacy: install
	$(BIN)/python -m tests.bench.privacy

# Re-pin every dependency (requirements/*.lock, with hashes) after pyproject.toml changes.
lock: install
	PATH=$(BIN):$$PATH scripts/lock.sh

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) $(DATA)
