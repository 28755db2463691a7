# Shortcuts for the commands in README.md; each is one `python3 manage.py` command.
PYTHON ?= python3

.PHONY: up test bench bench-quick

up:
	$(PYTHON) manage.py up

test:
	$(PYTHON) manage.py test

bench:
	$(PYTHON) manage.py bench

bench-quick:
	$(PYTHON) manage.py bench --quick
