# Set-up, tests and the demo. `make test` and `make run` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCKS := requirements
# The tool that writes the locks (make lock); installs need only pip.
UV := uv==0.13.9
# make lock: every pin moved to the newest release the ranges allow. `make lock
# UPGRADE=` keeps the pins that still fit (after adding a dependency, say).
UPGRADE ?= --upgrade

.PHONY: install test test-latest run bench lock clean

install: $(STAMP)

# The locked versions, hash-checked, then the project itself without its
# dependencies (they are all in the lock) or a build environment of its own.
define install_locked
	$(1)/pip install --quiet --require-hashes --no-deps -r $(LOCKS)/$(2).txt
	$(1)/pip install --quiet --no-deps --no-build-isolation -e .
	$(1)/pip check --quiet
endef

$(STAMP): pyproject.toml $(LOCKS)/test.txt
	$(PYTHON) -m venv $(VENV)
	$(call install_locked,$(BIN),test)
	touch $(STAMP)

# The real Keystone and Glance of the OpenStack tests run from a venv of their
# own (requirements/keystone.txt), built once per machine and cached.
test: $(STAMP)
	$(BIN)/python -m multicloud_broker.simulators.keystone --prepare
	$(BIN)/python -m multicloud_broker.simulators.glance --prepare
	$(BIN)/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder

# The suite against the newest versions pyproject.toml's ranges allow, in a
# venv of its own: drift in a dependency is found here, on purpose.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	.venv-latest/bin/python -m multicloud_broker.simulators.keystone --prepare
	.venv-latest/bin/python -m multicloud_broker.simulators.glance --prepare
	.venv-latest/bin/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder

run: $(STAMP)
	./scripts/run-demo.sh

# The spec's comparison, then again with kept-alive client connections
# (ab -k), as orchestrators keep them; then the OpenStack plugin's chain.
bench: $(STAMP)
	$(call install_locked,$(BIN),bench)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.run --keepalive --levels 100,1000 --sections vim_types,forward --tag keepalive
	$(BIN)/python -m multicloud_broker.simulators.keystone --prepare
	$(BIN)/python -m bench.run --sections plugin,volte

# Each lock is resolved within the one before, so the tests and the bench run
# the versions the image ships.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet '$(UV)'
	.venv-lock/bin/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 \
	    --generate-hashes pyproject.toml -o $(LOCKS)/run.txt
	.venv-lock/bin/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 \
	    --generate-hashes pyproject.toml --extra test -c $(LOCKS)/run.txt \
	    -o $(LOCKS)/test.txt
	.venv-lock/bin/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 \
	    --generate-hashes pyproject.toml --extra test --extra bench \
	    -c $(LOCKS)/test.txt -o $(LOCKS)/bench.txt
	.venv-lock/bin/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 \
	    --generate-hashes $(LOCKS)/keystone.in -o $(LOCKS)/keystone.txt

clean:
	rm -rf $(VENV) .venv-latest .venv-lock var build src/*.egg-info
