# Two entry points (see README): `make run` and `make test`. Both set up .venv first.
VENV := .venv
STAMP := $(VENV)/.isingsr-installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# The main job on shipped defaults: Monte Carlo truth at L = 32 (generated once, cached),
# coarse-grained by 4, super-resolved by the shipped SKILD checkpoint and the shipped
# baselines (SR3, CNN, naive), sampled from the exact posterior, all compared with the
# truth (figs/summary.json, figs/correlations.csv, figs/g2.png, figs/g4c.png).
run: $(STAMP)
	$(VENV)/bin/isingsr correlate --scale 4 --out figs

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check isingsr tests experiments scripts

bench: $(STAMP)
	$(VENV)/bin/python experiments/bench_mc.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
