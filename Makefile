# easlab — every target creates and uses the project virtualenv at .venv.
PY       ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
PROTODIR := easlab/wire/proto

# the panel's front end (extensions/easlab-lab) built into easlab/lab/labextension
.PHONY: labextension lab-install lab-uninstall lab test test-deps system-deps bench proto lint venv official-venv seldon-venv aiges-venv browser-deps java-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[all,test]'
	$(VPY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The official eas-prediction client pins protobuf 3.20.3, so it lives in its own venv.
official-venv: .venv-official/.installed
.venv-official/.installed:
	test -x .venv-official/bin/python || $(PY) -m venv .venv-official
	.venv-official/bin/pip install -q 'eas-prediction==0.36'
	touch $@

# The real seldon-core (protobuf 3.20, Flask 2.2 pins) for the side-by-side Seldon tests.
seldon-venv: .venv-seldon/.installed
.venv-seldon/.installed:
	test -x .venv-seldon/bin/python || $(PY) -m venv .venv-seldon
	.venv-seldon/bin/pip install -q 'seldon-core==1.18.2' 'setuptools<81'
	touch $@

# The real iFlytek aiges SDK, for the side-by-side tests (tests/aiges/); its CLI needs setuptools<70.
aiges-venv: .venv-aiges/.installed
.venv-aiges/.installed:
	test -x .venv-aiges/bin/python || $(PY) -m venv .venv-aiges
	.venv-aiges/bin/pip install -q 'aiges==0.16.0' 'setuptools<70'
	touch $@

# Chromium for the real-browser notebook test; Debian's package (Playwright cannot download one here).
# and curl: the tests run the debug widget's "copy as curl" snippets as a user would.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@command -v curl >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq curl >/dev/null)

# javac and jar for the Java processor tests (tests/kernel/test_java.py compile the manual's
# class); serving needs neither: a user brings a built jar, easlab[java] brings the runtime.
java-deps:
	@(command -v javac && command -v jar) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq default-jdk-headless >/dev/null)

## Build the "EAS services" panel (TypeScript, Node.js 20 + npm); the result is committed.
labextension: extensions/easlab-lab/node_modules/.installed
	cd extensions/easlab-lab && PATH=$(abspath $(VENV))/bin:$$PATH npm run build
extensions/easlab-lab/node_modules/.installed: extensions/easlab-lab/package.json
	cd extensions/easlab-lab && npm install --no-audit --no-fund --loglevel=error
	touch $@

## Install and enable the panel in .venv (an editable install gets no data files).
lab-install: $(STAMP)
	$(VPY) -m easlab.lab.install

## Take the panel and its server extension's config out of .venv again.
lab-uninstall:
	$(VPY) -m easlab.lab.install --uninstall

## Open the tutorials in JupyterLab, with the local serving kernel and the EAS services panel.
lab: $(STAMP) lab-install
	@$(VPY) -c "import easlab; print('easlab kernel running at', easlab.connect(start=True).endpoint)"
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

## Run the whole test suite: lint, types, unit + end-to-end tests, notebooks, browser test.
test: test-deps
	$(VENV)/bin/ruff check easlab tests benchmarks
	$(VENV)/bin/ruff format --check easlab tests benchmarks
	$(VENV)/bin/mypy easlab
	$(VENV)/bin/lint-imports
	$(VPY) -m pytest -q -n 2 --dist loadfile tests

# What the suite needs, the four venvs side by side (pip waits on downloads and unpacking
# more than on a core) while apt installs the system packages, one at a time (one dpkg lock).
test-deps:
	$(MAKE) -j5 $(STAMP) official-venv seldon-venv aiges-venv system-deps

system-deps:
	$(MAKE) browser-deps
	$(MAKE) java-deps

## Benchmarks, side by side in one run; results go to BENCHMARKS.md.
bench: $(STAMP) official-venv
	bash benchmarks/setup_peers.sh
	$(VPY) benchmarks/run_all.py --output BENCHMARKS.md

## Regenerate the protobuf modules (gencode pinned for protobuf >= 5.26 runtimes).
proto:
	test -x .venv-proto/bin/python || ($(PY) -m venv .venv-proto && .venv-proto/bin/pip install -q 'grpcio-tools==1.64.1')
	.venv-proto/bin/python -m grpc_tools.protoc -I $(PROTODIR) --python_out=$(PROTODIR) $(PROTODIR)/*.proto

lint: $(STAMP)
	$(VENV)/bin/ruff check easlab tests benchmarks
	$(VENV)/bin/ruff format --check easlab tests benchmarks
	$(VENV)/bin/mypy easlab
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .venv-official .venv-seldon .venv-aiges .venv-proto .venv-binder .venv-bench .pytest_cache
