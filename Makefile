# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./var
PORT   ?= 3001

.PHONY: run test bench docs clean wheelhouse

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(VENV)/.installed-hub: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[hub]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-hub

run: $(VENV)/.installed-hub
	$(BIN)/qms-hub --data-dir $(DATA) serve --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run_all

docs: $(VENV)/.installed-dev
	$(BIN)/python -m protocol.docs > docs/protocol.md

# Every wheel the Raspberry Pis need (64-bit Raspberry Pi OS Bookworm: Python 3.11,
# glibc 2.36), so deploy/install.sh can build a device's venv with no internet. Needs
# internet here, once. PI_ARCH=armv7l for 32-bit systems. Also leaves .venv/bin/qms-hub,
# which deploy/flash.py uses to sign the device tokens.
WHEELHOUSE ?= dist/wheelhouse
PI_ARCH    ?= aarch64
PI_PLATFORMS := manylinux2014_$(PI_ARCH) $(foreach v,17 24 26 27 28 31 34 35 36,manylinux_2_$(v)_$(PI_ARCH)) linux_$(PI_ARCH)

wheelhouse: $(VENV)/.installed-hub
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) .
	$(BIN)/python -m pip download --quiet --dest $(WHEELHOUSE) --only-binary=:all: \
	    --python-version 3.11 --implementation cp $(addprefix --platform ,$(PI_PLATFORMS)) \
	    "$$(ls $(WHEELHOUSE)/qms_hall-*.whl)[hub,kiosk,tv]"
	@echo "wheelhouse: $$(ls $(WHEELHOUSE) | wc -l) wheels in $(WHEELHOUSE)"

clean:
	rm -rf $(VENV) build *.egg-info
