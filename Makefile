# ddbench: the two commands a new user needs.
#   make demo   — the main job on real data (Fashion-MNIST), small default, writes results/demo/
#   make test   — every test
# Both run the one-time setup (virtualenv with torch 2.11.0, Fashion-MNIST) and the release build.

SHELL := /bin/bash
CARGO ?= cargo
DDBENCH := target/release/ddbench
DEVICE ?= auto

.PHONY: setup build demo test lint clean-results

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --workspace

# The demo is the leaderboard file baselines/demo.toml (scripts/demo.sh), cut down for a 2-core CPU; the full DD
# protocol (width 128, 300 epochs, 1,000 attacked images) is for GPUs: see README.
demo: build
	bash scripts/demo.sh $(DDBENCH) --device $(DEVICE)

# One test at a time: libtorch (in a test and in the ddbench it starts) already uses every core,
# and two tests at once oversubscribe them — OpenMP's spinning threads then made a test binary
# up to 4-5x slower (2-core CPU, 2026-12-02: batch_students 196 s -> 43 s, teacher_resume
# 182 s -> 37 s).
test: build
	$(CARGO) test --release --workspace -- --test-threads 1
	# the criterion benches, smoke mode: compiled, each hot loop run once (harness/benches)
	$(CARGO) bench -p ddbench --bench hot_loops -- --test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
