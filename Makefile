# Two entry points (see README): `make demo` and `make test`. Both install everything first:
# Debian's ffmpeg + espeak-ng (media decoding, sample speech), chromium (the pages' browser tests)
# and a virtualenv with the project.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.crossomni-installed
PYTEST_ARGS ?=
LMMS_EVAL ?= lmms-eval==0.7.3

.PHONY: install demo test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v ffmpeg >/dev/null && command -v espeak-ng >/dev/null && command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq ffmpeg espeak-ng chromium; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# compat: a plain sys.path entry, so an exported ./crossomni/ folder cannot shadow `import crossomni`
	$(PY) -m pip install -q -e '.[dev,ray,lmms]' --config-settings editable_mode=compat
	# lmms-eval for the task folder's tests, without its own requirements (the `lmms` extra has what it needs)
	$(PY) -m pip install -q --no-deps $(LMMS_EVAL)
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/crossomni demo

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf build .pytest_cache
