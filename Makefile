# Set-up, tests and the demo. `make test` and `make run` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test run bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 4 --dist loadfile

run: $(STAMP)
	./scripts/run-demo.sh

# The spec's comparison, then again with kept-alive client connections
# (ab -k), as orchestrators keep them.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.run --keepalive --levels 100,1000 --sections vim_types,forward --tag keepalive

clean:
	rm -rf $(VENV) var build src/*.egg-info
