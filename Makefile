# The two commands of the README: `make up` and `make test`. Both provision first.
.PHONY: provision up test lint

provision:
	@bash provision/provision.sh

up: provision
	.venv/bin/kmt up

lint: provision
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy services

test: lint
	.venv/bin/pytest -q -n 2 --dist loadfile --durations=25
