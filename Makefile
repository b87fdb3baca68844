# One-command set-up: `make run` trains a quick model, translates with it and serves it;
# `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MULTI30K_DIR ?= ../shared/data/multi30k
RUN_DIR ?= runs/quick
QUICK_MINUTES ?= 10
# pytest-xdist processes `make test` runs the tests on (0: all in one process)
TEST_PROCESSES ?= 2

.PHONY: system test-system install run test lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

system:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (Debian package)"; $(APT_INSTALL) redis-server >/dev/null; }

# The tests' other tools: a browser, docker-compose (the compose file's check), and pandoc and
# LibreOffice (headless), which write the documents of other tools the format tests read and
# open every translated Office file.
test-system:
	@[ -x /usr/bin/chromium ] && command -v docker-compose >/dev/null && command -v pandoc \
		>/dev/null && command -v soffice >/dev/null && command -v openssl >/dev/null || { \
		echo "installing chromium, docker-compose, pandoc, LibreOffice (headless) and openssl" \
			"for the tests (Debian packages)"; \
		$(APT_INSTALL) chromium docker-compose pandoc libreoffice-writer-nogui \
			libreoffice-impress-nogui openssl >/dev/null; }

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: system $(VENV)/.installed

run: install
	@if [ -n "$$MODELS" ]; then echo "serving the configured MODELS=$$MODELS"; \
	elif [ ! -f $(RUN_DIR)/best.pt ]; then \
		data="$(MULTI30K_DIR)"; \
		if [ ! -d "$$data" ]; then \
			echo "no Multi30K in $$data: downloading it to data/multi30k"; \
			data=data/multi30k; $(BIN)/translator download --out $$data || exit 2; \
		fi; \
		$(BIN)/translator train --data "$$data" --src de --tgt en --out $(RUN_DIR) \
			--preset quick --max-minutes $(QUICK_MINUTES) || exit $$?; \
		echo "quick model ready; for the full model: translator train --max-minutes 60 (README)"; \
		printf 'Ein Mann fährt mit dem Fahrrad die Straße entlang.\nZwei Kinder spielen im Sand.\n' \
			| $(BIN)/translator translate --checkpoint $(RUN_DIR)/best.pt; \
	else echo "using the existing model $(RUN_DIR)/best.pt"; \
		$(BIN)/translator calibrate --checkpoint $(RUN_DIR)/best.pt --data "$(MULTI30K_DIR)" \
			--if-missing >/dev/null || echo "(no casing table or confidence calibration: see README)"; fi
	MODELS="$${MODELS:-de-en=$(RUN_DIR)/best.pt}" MULTI30K_DIR="$(MULTI30K_DIR)" \
		$(BIN)/translator serve

test: install test-system
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadfile

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs
