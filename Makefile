# Swabline: `make run` serves the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Tests only: the literal FHIR R4 (4.0.1) validator, fhir.resources 6.4.0 on pydantic 1,
# which cannot share the main environment (docs/decisions/0008-fhir-mapping.md).
FHIR_R4_VENV := .venv-fhir-r4
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := swabline.settings

.PHONY: fhir-r4-venv run test lint typecheck checks test-sqlite test-postgres bench soak vendor messages compilemessages clean

$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements.lock
	touch $@

venv: $(VENV)/.installed

$(FHIR_R4_VENV)/.installed: requirements-fhir-r4.lock $(VENV)/.installed
	test -x $(FHIR_R4_VENV)/bin/python || $(VENV)/bin/uv venv --quiet --python $(PY) $(FHIR_R4_VENV)
	$(VENV)/bin/uv pip sync --quiet --require-hashes --python $(FHIR_R4_VENV)/bin/python requirements-fhir-r4.lock
	touch $@

fhir-r4-venv: $(FHIR_R4_VENV)/.installed

run: $(VENV)/.installed compilemessages
	$(PY) manage.py migrate --no-input
	$(PY) manage.py load_places
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	PORT=$(PORT) $(PY) manage.py serve_demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy swabline tests bench soak

checks: $(VENV)/.installed
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py collectstatic --no-input --verbosity 0

# The compiled catalogues (.mo) are committed, so a machine without GNU gettext
# still runs; where msgfmt exists they are rebuilt from the .po files.
compilemessages: $(VENV)/.installed
	@if command -v msgfmt >/dev/null 2>&1; then \
	  $(PY) manage.py compilemessages --ignore '.venv' --verbosity 0; \
	else echo "msgfmt not found: using the committed .mo files"; fi

messages: $(VENV)/.installed
	$(PY) manage.py makemessages --locale vi --ignore '.venv/*' --ignore 'static/vendor/*' --no-location --no-obsolete
	$(PY) manage.py makemessages --locale vi --domain djangojs --ignore '.venv/*' --ignore 'static/vendor/*' --no-location --no-obsolete

test: lint typecheck compilemessages checks $(FHIR_R4_VENV)/.installed
	@$(VENV)/bin/python -m tests.legs

bench: $(VENV)/.installed compilemessages
	$(PY) -m bench

# A campaign day under load (locust → granian + PostgreSQL on 127.0.0.1) for
# SOAK_MINUTES (default 10); numbers into docs/performance.md; fails on any error.
SOAK_MINUTES ?= 10
soak: $(VENV)/.installed compilemessages
	SOAK_MINUTES=$(SOAK_MINUTES) $(PY) -m soak

vendor: $(VENV)/.installed
	$(PY) scripts/vendor_static.py

clean:
	rm -rf $(VENV) $(FHIR_R4_VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
