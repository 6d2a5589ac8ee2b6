# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./var
PORT   ?= 3001

.PHONY: run test bench docs demo clean wheelhouse

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

# The hub, a windowed kiosk and a windowed TV on one desktop; closing the kiosk stops all three.
# Tickets land as PNG and ESC/POS files in $(DEMO)/tickets.
DEMO      ?= ./var/demo
DEMO_PORT ?= 3011

demo: $(VENV)/.installed-dev
	mkdir -p $(DEMO)
	$(BIN)/qms-hub --data-dir $(DEMO)/hub token --role kiosk --client-id kiosk-demo > $(DEMO)/kiosk.token
	$(BIN)/qms-hub --data-dir $(DEMO)/hub token --role tv --client-id tv-demo > $(DEMO)/tv.token
	$(BIN)/qms-hub --data-dir $(DEMO)/hub serve --host 127.0.0.1 --port $(DEMO_PORT) & hub=$$!; \
	trap 'kill $$hub $$tv 2>/dev/null' EXIT INT TERM; \
	until $(BIN)/python -c "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:$(DEMO_PORT)/healthz', timeout=1)" 2>/dev/null; do sleep 0.2; done; \
	$(BIN)/qms-tv --hub ws://127.0.0.1:$(DEMO_PORT)/ws --token-file $(DEMO)/tv.token --windowed --size 1280x720 & tv=$$!; \
	$(BIN)/qms-kiosk --hub ws://127.0.0.1:$(DEMO_PORT)/ws --token-file $(DEMO)/kiosk.token --windowed \
	    --size 1024x600 --printer virtual:$(DEMO)/tickets

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
