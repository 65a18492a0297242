# Two entry points (see README): `make run` and `make test`. Both set up .venv first.
VENV := .venv
STAMP := $(VENV)/.isingsr-installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# The main job on shipped defaults: a 128 x 128 critical ensemble, and what is in it.
run: $(STAMP)
	$(VENV)/bin/isingsr generate --L 128 -n 10000 --out data/L128.h5 --overwrite
	$(VENV)/bin/isingsr info data/L128.h5

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python experiments/bench_mc.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
