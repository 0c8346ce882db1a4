# NovaMed Bridge. `make demo` runs the whole flow on this machine; `make test` runs every check.
SHELL := /bin/bash
GO ?= go

# Lambda's provided.al2023 runtime on Graviton: a static arm64 binary named bootstrap.
LAMBDA_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags '-s -w'

.PHONY: all test vet staticcheck unit build bench demo local devstack clean \
	build-IntakeFunction build-DispatchFunction invoke-intake invoke-dispatch \
	deploy-dev deploy-prod sign-events check-events redrive lint-template

all: build test

## test: vet, staticcheck and every test (unit, integration against kumo, end to end) with the race
## detector (it needs a C compiler); each step is announced and the end says what failed.
## PKGS=./pkg/x/... narrows it to some packages.
test:
	@GO=$(GO) PKGS='$(PKGS)' scripts/test.sh

vet:
	$(GO) vet ./...

# staticcheck is pinned in go.mod (a tool directive), so GOBIN and any other
# installed staticcheck play no part.
staticcheck:
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

## build: both bootstrap binaries, as SAM would build them, under bin/<function>/bootstrap
build:
	$(MAKE) build-IntakeFunction ARTIFACTS_DIR=bin/intake
	$(MAKE) build-DispatchFunction ARTIFACTS_DIR=bin/dispatch

# SAM's makefile build method calls these with ARTIFACTS_DIR set.
build-IntakeFunction:
	mkdir -p $(ARTIFACTS_DIR)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/intake

build-DispatchFunction:
	mkdir -p $(ARTIFACTS_DIR)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/dispatch

## bench: every benchmark; those docs/performance.md rests on report a ratio to a baseline of the same run
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## demo: the whole flow on this machine (kumo, the NovaMed sandbox, both functions under the Lambda RIE); exits 0 only if it behaved
## (V=1 shows the functions' logs)
demo: devstack
	bin/devstack demo $(if $(V),-v)

## local: the local stack, kept running; prints curl lines and the operator commands (bin/redrive
## stats, peek, move with the exports they need), all working as printed. V=1 shows the functions'
## logs; ADDR=127.0.0.1:3001 serves the webhooks on another port; INSTANCES=4 runs each function in
## four execution environments, as Lambda scales out.
local: devstack redrive
	bin/devstack local $(if $(ADDR),-addr $(ADDR)) $(if $(INSTANCES),-instances $(INSTANCES)) $(if $(V),-v)

# The local stack links kumo and the AWS SDK: the first build takes minutes on
# 2 cores, so it shows each package as it compiles.
devstack:
	@echo "== building the local stack (the first time takes a few minutes; packages show as they compile)"
	@mkdir -p bin
	$(GO) build -v -o bin/devstack ./cmd/devstack

## sign-events: re-sign events/intake/*.json with the local test secrets (Standard Webhooks signatures last 5 minutes)
sign-events:
	$(GO) run ./cmd/sign-events

check-events:
	$(GO) run ./cmd/sign-events -check

## invoke-intake, invoke-dispatch: one sample through a function, as sam local invoke does
## (EVENT=events/intake/<name>.json to choose). With sam and a running Docker engine, sam local
## invoke; without them (or with RIE=1), the same bootstrap under the Lambda RIE against a local
## stack started for the call. ENV_VARS=<file> (sam's --env-vars format) sets the environment
## instead, e.g. the file `make local` prints; see docs/operations.md. Intake samples are signed
## afresh into a temporary copy: events/ is never rewritten.
EVENT_INTAKE ?= events/intake/fhir-patient.json
EVENT_DISPATCH ?= events/dispatch/batch.json
INVOKE_FLAGS = $(if $(ENV_VARS),-env-vars $(ENV_VARS)) $(if $(RIE),-rie)
invoke-intake:
	$(GO) run ./cmd/invoke -function IntakeFunction -event $(if $(EVENT),$(EVENT),$(EVENT_INTAKE)) $(INVOKE_FLAGS)

invoke-dispatch:
	$(GO) run ./cmd/invoke -function DispatchFunction -event $(if $(EVENT),$(EVENT),$(EVENT_DISPATCH)) $(INVOKE_FLAGS)

## deploy-dev, deploy-prod: build with SAM and deploy (prod shows its change set and asks)
deploy-dev:
	sam build && sam deploy

deploy-prod:
	sam build && sam deploy --config-env prod

## lint-template: cfn-lint on the SAM template
lint-template:
	cfn-lint template.yaml

clean:
	rm -rf bin .aws-sam

## redrive: the operators' dead-letter tool as bin/redrive (bin/redrive help).
## Common use:  bin/redrive stats --stack novamed-bridge-prod
##              bin/redrive move  --stack novamed-bridge-prod --error-class exhausted --rate 5
redrive:
	mkdir -p bin
	$(GO) build -trimpath -o bin/redrive ./cmd/redrive

# ---- evidence (issue 17): fuzzing and load ----

.PHONY: fuzz soak

## fuzz: every fuzz target of the repo for FUZZTIME each (Go's -fuzztime: 60s, or 10000000x
## for ten million executions), one after another; prints each target's execution count and
## wall time. FUZZFLAGS go to go test as well (e.g. FUZZFLAGS="-parallel 1" on a shared machine).
## Their default caps the minimisation of each new input at 5 s: at Go's 60 s the workers of a
## target that finds many inputs (FuzzValid) stood still for minutes (docs/hostile-input.md).
## The nokumo tag leaves out the test files that start kumo (functions/intake): the fuzz
## targets use none, and kumo's coverage counters slowed FuzzHandler's every execution
FUZZTIME ?= 30s
FUZZFLAGS ?= -fuzzminimizetime 5s
fuzz:
	@set -euo pipefail; \
	for pkg in $$($(GO) list ./...); do \
	  tagged=$$($(GO) test -list '^Fuzz' -tags nokumo $$pkg 2>&1) || { echo "$$tagged"; echo "FAIL $$pkg: go test -list -tags nokumo"; exit 1; }; \
	  all=$$($(GO) test -list '^Fuzz' $$pkg 2>&1) || { echo "$$all"; echo "FAIL $$pkg: go test -list"; exit 1; }; \
	  targets=$$(grep '^Fuzz' <<<"$$tagged" || true); \
	  if [ "$$targets" != "$$(grep '^Fuzz' <<<"$$all" || true)" ]; then \
	    echo "FAIL $$pkg: a fuzz target is in a file the nokumo tag leaves out"; exit 1; fi; \
	  for target in $$targets; do \
	    log=$$(mktemp); start=$$SECONDS; \
	    if ! $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) -tags nokumo $$pkg >$$log 2>&1; then \
	      cat $$log; rm -f $$log; echo "FAIL $$pkg $$target"; exit 1; fi; \
	    execs=$$(grep -o 'execs: [0-9]*' $$log | tail -1 | cut -d' ' -f2 || true); \
	    printf '%-52s %-28s execs %-10s wall %ss\n' $${pkg#github.com/novamed/bridge/} $$target "$${execs:-?}" $$((SECONDS - start)); \
	    rm -f $$log; \
	  done; \
	done

## soak: the load test of issue 17 through the local stack (SOAK_ARGS="-n 5000 -c 50 -repeat 10 -fail 20 -instances 4"; see bin/devstack soak -h)
SOAK_ARGS ?=
soak: devstack
	bin/devstack soak $(SOAK_ARGS)
