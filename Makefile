# Sluice developer entry points. The cargo target directory lives outside the checkout so builds
# are shared by every clone on the machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sluice/target

# DuckDB: link DuckDB's official prebuilt library (fetched and verified by scripts/libduckdb),
# or, where none can be had, compile it from source (~30 minutes on 2 cores, once per machine).
ifndef DUCKDB_LIB_DIR
DUCKDB_LIB_DIR := $(shell scripts/libduckdb)
endif
ifeq ($(DUCKDB_LIB_DIR),)
CARGO_FEATURES := --features sluice/duckdb-bundled
else
export DUCKDB_LIB_DIR
CARGO_FEATURES :=
endif

CARGO ?= cargo
SLUICE := $(CARGO_TARGET_DIR)/debug/sluice

IMAGE ?= ghcr.io/sluice-dev/sluice:dev

.PHONY: build demo test test-engine test-e2e lint fmt crds sync helm-venv image public-projects bench bench-warehouses bench-operator e2e-kind clean-demo

build:
	$(CARGO) build --workspace $(CARGO_FEATURES)

## The newcomer's story on an embedded DuckDB file: build prod, change, plan, apply, promote, roll back.
## Builds only the `sluice` binary.
demo:
	$(CARGO) build -p sluice --bin sluice $(CARGO_FEATURES)
	$(SLUICE) demo

## Every test, with a throwaway PostgreSQL and a throwaway Spark Connect server started (and
## stopped) around them.
test: helm-venv
	scripts/with-postgres scripts/with-spark $(CARGO) test --workspace --no-fail-fast $(CARGO_FEATURES)

test-engine:
	scripts/with-postgres scripts/with-spark $(CARGO) test -p sluice-engine -p sluice-warehouse -p sluice $(CARGO_FEATURES)

test-e2e: helm-venv
	$(CARGO) build -p sluice -p sluice-plugin $(CARGO_FEATURES)
	scripts/with-postgres scripts/with-spark $(CARGO) test -p sluice-e2e $(CARGO_FEATURES)

lint:
	scripts/sync-chart --check
	scripts/sync-argocd --check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings

fmt:
	$(CARGO) fmt --all

## Regenerate crds/ from the Rust types (a test fails when it is stale), and the chart's copy.
crds: build
	$(SLUICE) crds --dir crds
	scripts/sync-chart

## Copy crds/ and config/{rbac,policy} into the chart; regenerate config/argocd/argocd-cm.yaml.
sync:
	scripts/sync-chart
	scripts/sync-argocd

## Helm's engine as a Python library (helm-python-sdk), for the chart tests.
helm-venv:
	scripts/helm-venv >/dev/null

## The image (sluice + kubectl-sluice); needs Docker with BuildKit.
image:
	docker build -t $(IMAGE) .

## First build, and `sluice plan` with no change and with a change set: whole-process time and peak memory on generated 1,000- and 10,000-model projects (release build).
bench:
	$(CARGO) bench -p sluice --bench plan_scale $(CARGO_FEATURES)

## The operator at scale: Plan → Ready, flip time, object sizes, memory, API requests, and a fleet
## of plans (release build; SLUICE_BENCH_SIZES=1000 for one size).
## SQLMesh's example projects (fetched from its source release on PyPI) applied with Sluice,
## every model's row count compared with SQLMesh's.
public-projects:
	CARGO="$(CARGO)" scripts/public-projects $(CARGO_FEATURES)

## The same generated project on PostgreSQL and on Spark (state in PostgreSQL): plan, first
## apply, backfill throughput, the flip and its mixed-view window.
bench-warehouses:
	scripts/with-postgres scripts/with-spark $(CARGO) bench -p sluice --bench warehouses $(CARGO_FEATURES)

bench-operator:
	$(CARGO) build --profile bench -p sluice $(CARGO_FEATURES)
	scripts/with-postgres $(CARGO) bench -p sluice-e2e --bench operator_scale $(CARGO_FEATURES)

## The end-to-end suite against a real cluster (needs Docker and kind).
e2e-kind:
	kind create cluster --name sluice-e2e --kubeconfig /tmp/sluice-e2e.kubeconfig
	SLUICE_E2E_KUBECONFIG=/tmp/sluice-e2e.kubeconfig $(CARGO) test -p sluice-e2e; \
	  rc=$$?; kind delete cluster --name sluice-e2e; exit $$rc
