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

$(VENV)/.installed-nodes: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[hub,kiosk,tv,counter]'
	touch $@ $(VENV)/.installed-hub

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-hub $(VENV)/.installed-nodes

# What the tests use from Debian, by who needs it:
#   make's venv: python3 python3-venv python3-pip make; the hall's time zone: tzdata
#   TV speech: espeak-ng; Vietnamese glyphs on kiosk, TV and screenshots: fonts-dejavu-core
#   console browser tests: chromium chromium-driver
#   deploy and systemd tests: systemd mtools dosfstools shellcheck openssl fdisk git
#   the province's database (central tests start their own server): postgresql
DEBIAN_PACKAGES := python3 python3-venv python3-pip make tzdata \
    espeak-ng fonts-dejavu-core \
    chromium chromium-driver \
    systemd mtools dosfstools shellcheck openssl fdisk git \
    postgresql

.PHONY: deps test-fast screenshots

# Installs only what is missing (apt-get as root, else sudo); nothing to do takes one dpkg-query.
deps:
	@bash tools/debian_deps.sh $(DEBIAN_PACKAGES)

# python3-venv is one of them: the venv waits for deps, also under make -j.
ifneq ($(filter test test-fast,$(MAKECMDGOALS)),)
$(BIN)/python: | deps
endif

run: $(VENV)/.installed-hub
	$(BIN)/qms-hub --data-dir $(DATA) serve --port $(PORT)

test: deps $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest

# Lint and type checks, also run by `make test`: which files and rules is in pyproject.toml
# ([tool.ruff], [tool.mypy]). Both run, so one failure does not hide the other's findings.
.PHONY: lint
lint: $(VENV)/.installed-dev
	status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

# The quick subset while developing: the suite without the tests that take seconds each (over
# about 5 s in pytest --durations: headless Chromium, a venv built in a staging root, whole
# programs started). They carry @pytest.mark.slow, or are named in SLOW_TESTS when their file
# does not mark them. CI runs the whole of make test.
SLOW_TESTS := --ignore=tests/console/test_browser.py --ignore=tests/console/test_screenshots.py \
    --deselect=tests/tv/test_bench.py::test_idle_cpu_is_read_from_a_running_qms_tv

test-fast: deps $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow" $(SLOW_TESTS)

# Every benchmark, each part three times (some 20 minutes; --quick for a smoke run): docs/performance.md.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run_all

docs: $(VENV)/.installed-dev
	$(BIN)/python -m tools.protocol_docs docs/protocol.md

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

# Pictures of the kiosk and the TV with no screen (SDL's dummy video driver): a hub of the sample
# site on a free port, a kiosk and a TV connected to it, one PNG each; see tools/screenshots.py.
SHOTS      ?= ./var/screenshots
KIOSK_SIZE ?= 800x480
TV_SIZE    ?= 1920x1080

screenshots: $(VENV)/.installed-nodes
	$(BIN)/python -m tools.screenshots --out-dir $(SHOTS) --kiosk-size $(KIOSK_SIZE) --tv-size $(TV_SIZE)

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
	    "$$(ls $(WHEELHOUSE)/qms_hall-*.whl)[hub,kiosk,tv,counter]"
	@echo "wheelhouse: $$(ls $(WHEELHOUSE) | wc -l) wheels in $(WHEELHOUSE)"

clean:
	rm -rf $(VENV) build *.egg-info
