# Two commands matter: `make run` starts a local cluster, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fuse]' --config-settings editable_mode=compat
	touch $@

run: venv
	$(PY) -m dfs.devcluster --root run

test: venv
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

# Side-by-side benchmark with SeaweedFS (bench/README.md); its dependencies live in bench/.venv only.
bench: venv
	python3 -m venv bench/.venv
	bench/.venv/bin/pip install -q -r bench/requirements.txt
	bench/.venv/bin/python bench/run.py

clean:
	rm -rf run .pytest_cache
