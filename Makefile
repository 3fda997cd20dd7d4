# The two commands: `make run` brings the platform up with the demo city; `make test` runs
# every check. Both install what is missing first (scripts/bootstrap.sh).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PO := $(wildcard fieldapp/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test setup lint typecheck pytest bench faults stop translations extract-messages clean

run: setup
	$(BIN)/fieldapp up

test: setup lint typecheck pytest

setup:
	@bash scripts/bootstrap.sh $(BOOTSTRAP_FLAGS)
	@$(MAKE) --no-print-directory translations

test: BOOTSTRAP_FLAGS = --with-browser
bench: BOOTSTRAP_FLAGS = --with-browser --with-bench

translations: $(MO)

%.mo: %.po
	$(BIN)/pybabel compile -i $< -o $@ -l $(word 3,$(subst /, ,$<)) -D messages

extract-messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -o fieldapp/translations/messages.pot .
	$(BIN)/pybabel update -i fieldapp/translations/messages.pot -d fieldapp/translations

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The fault suite (tests/faults): the supervised stack on a scratch instance of its own, phones
# filing reports while processes, the broker and the database fail; prints recovery times.
faults: setup
	$(BIN)/python -m pytest tests/faults -m faults -s -q -p no:cacheprovider $(PYTEST_ARGS)

stop:
	$(BIN)/fieldapp services down

clean: stop
	rm -rf $(VENV) instance
