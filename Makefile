# One entry point for people and CI. `make test` sets everything up on a fresh Debian machine
# (idempotently), then lints and runs every test; `make help` lists the rest.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The interpreter the virtualenv is made from: `make PYTHON=/path/to/python3.x` to choose. By default
# the distribution's own /usr/bin/python3 when it is 3.11 to 3.13 (what ansible-core 2.19 runs on),
# else the first python3 on the PATH. Debian builds its Python with profile-guided and link-time
# optimisation; a pyenv build does not unless asked: on this project's 2-core test machine the same
# ansible-playbook run took 17% less CPU on Debian's 3.11.2 than on pyenv's 3.11.7 (median of 15
# interleaved runs each, 0.84 against 1.01 CPU s, 2026-12-02), and the suite is Python on the
# controller for more than half of its CPU.
# The real path of interpreter $(1) when it is Python 3.11 to 3.13, else nothing (one check for both uses).
python_real = $(shell $(1) -c 'import os, sys; (3, 11) <= sys.version_info[:2] <= (3, 13) and print(os.path.realpath(sys.executable))' 2>/dev/null)
ifndef PYTHON
PYTHON := $(firstword $(foreach p,/usr/bin/python3 python3,$(if $(call python_real,$(p)),$(p))) python3)
endif
# The virtualenv is made again when the interpreter it was made from is not this one.
PYTHON_REAL := $(call python_real,$(PYTHON))
VENV := $(CURDIR)/.venv
# The installer of the virtualenv's packages (requirements.txt pins it with them).
UV_VERSION := $(patsubst uv==%,%,$(shell grep -E '^uv==' requirements.txt))
# The PATH without the virtualenv (also in the sub-makes, which inherit the one exported below):
# for the stand-in build, which runs beside the venv's creation and uses the system's python3.
SYSTEM_PATH := $(subst $(VENV)/bin:,,$(PATH))
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Byte-code goes to .cache/pycache, never into the tree, and is kept: each task's worker process
# imports the roles' filter plugins again, and without a .pyc compiles them again (a third of
# ansible-playbook's CPU in a run that changes nothing). With a prefix Python reads .pyc files
# from it only, the standard library's too: a PYTHONDONTWRITEBYTECODE from the caller's
# environment would make every process compile all it imports, so it is dropped.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache
unexport PYTHONDONTWRITEBYTECODE
STAGE := molecule/harness/stage.sh
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k agent"`.
PYTEST_ARGS ?=
# pytest-xdist workers for the Molecule scenarios: 3 runs the three lanes of
# tests/molecule/test_scenarios.py side by side; 0 runs everything in one process.
TEST_WORKERS ?= 3
LANES := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --lanes)

.PHONY: FORCE help setup venv hostpkgs docker images image-bookworm image-trixie standin wheels lint unit molecule test bench demo demo-clean harness-down clean collection release

# What the tests need. `make setup` (and `make test`) runs these side by side where one does not
# need another (make -j; each stage's output printed in one piece when it ends), apt-get one at a
# time (molecule/harness/apt-get.sh): the virtualenv, then the wheelhouse and the linters (they
# use it); meanwhile the stand-in repository (the system's Python and pip), the host packages, the
# Docker engine, then both host images.
SETUP := venv hostpkgs docker images standin wheels
PARALLEL := $(MAKE) -s -j4 --output-sync=target

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

# (FORCE: its recipe runs every time and writes the file only when the interpreter changed.)
$(VENV)/.python: FORCE
	@[ -n "$(PYTHON_REAL)" ] || { echo "need $(PYTHON) (Python 3.11 to 3.13)"; exit 1; }
	@[ "$$(cat $@ 2>/dev/null)" = "$(PYTHON_REAL)" ] \
	  || { rm -rf $(VENV) && mkdir -p $(VENV) && echo "$(PYTHON_REAL)" > $@; }

$(VENV)/.installed: requirements.txt $(VENV)/.python
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null \
	  || { molecule/harness/apt-get.sh update -qq \
	       && DEBIAN_FRONTEND=noninteractive molecule/harness/apt-get.sh install -y -qq python3-venv >/dev/null; }
	@[ -x $(VENV)/bin/pip ] || $(PYTHON) -m venv $(VENV)
	@# pip installs uv (its version pinned in requirements.txt), uv installs requirements.txt: the
	@# same 110 packages at the same versions as pip, on 4.5 CPU seconds and 5 s with an empty cache
	@# where pip took 35 and 39 s with a full one (idle 2-core machine, 2026-12-02); the set-up of
	@# `make test` is bound by CPU. A failure fails the stage (pipefail); grep only drops pip's
	@# notes on this machine's find-links folders (uv reads no pip configuration).
	@[ "$$($(VENV)/bin/uv --version 2>/dev/null | cut -d' ' -f2)" = "$(UV_VERSION)" ] \
	  || $(VENV)/bin/pip install -q --no-compile --disable-pip-version-check "uv==$(UV_VERSION)" 2>&1 \
	  | { grep -v "is ignored: it is neither" || true; }
	@UV_LINK_MODE=copy $(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -r requirements.txt
	@# No byte-code compiled ahead (neither pip nor uv compiles it, no compileall): each module is compiled the
	@# first time a process imports it, into PYTHONPYCACHEPREFIX (exported above), where every later
	@# process finds it. The suite imports a fraction of the virtualenv's 6,569 files outside
	@# ansible_collections/ (whose .pyc Ansible's collection loader never reads): compiling them
	@# all took 34 CPU s and 19 s on an idle 2-core machine, 67 s in the busy set-up of `make test`,
	@# on the way to every other stage; the first ansible-playbook run compiles what it imports in
	@# 1.6 s (2026-12-02).
	@$(VENV)/bin/python -c 'import ansible, molecule, testinfra, ansiblelint'
	@touch $@

venv: ## a virtualenv with requirements.txt
	@$(STAGE) "venv (requirements.txt)" $(MAKE) -s $(VENV)/.installed

hostpkgs: ## the Debian packages the fast tests and the image builder need (molecule/harness/host-packages.txt; apt-get, only the missing)
	@$(STAGE) "host packages (host-packages.txt)" molecule/harness/hostpkgs.sh

docker: hostpkgs ## a Docker engine (installs docker.io and starts dockerd if none answers)
	@$(STAGE) "docker engine" molecule/harness/dockerd.sh up

images: image-bookworm image-trixie ## systemd Debian 12 and 13 host images (debootstrap + docker import, cached)

# (hostpkgs installs debootstrap: image.sh then never needs apt-get, and both build at once)
image-bookworm image-trixie: docker hostpkgs
	@$(STAGE) "host image debian $(if $(filter image-bookworm,$@),12,13)" molecule/harness/image.sh $(@:image-%=%)

standin: ## the stand-in datadog-agent packages, their signed local repository and its key-rotation variants
	@PATH='$(SYSTEM_PATH)' $(STAGE) "stand-in agent repository" molecule/harness/standin/build.sh
	@PATH='$(SYSTEM_PATH)' $(STAGE) "stand-in key rotation variants" molecule/harness/standin_rotation.sh

wheels: venv ## the offline wheelhouse the test hosts install the sample app from
	@$(STAGE) "app wheelhouse" molecule/harness/wheels.sh

setup: ## everything the tests need (side by side where it can)
	@$(PARALLEL) $(SETUP)

lint: venv ## yamllint + ansible-lint (production profile)
	@$(STAGE) "yamllint" yamllint --strict .
	@$(STAGE) "ansible-lint" ansible-lint --profile production

unit: venv hostpkgs ## fast tests, no containers
	@$(STAGE) "fast tests" pytest -m "not molecule" $(PYTEST_ARGS)

molecule: setup ## every Molecule scenario CI runs
	@$(STAGE) "molecule scenarios" pytest -m molecule $(LANES) $(PYTEST_ARGS)

test: ## the README's test command: set up and lint (side by side), fast tests, every CI scenario
	@$(PARALLEL) $(SETUP) lint
	@$(STAGE) "tests (fast + molecule)" pytest $(LANES) $(PYTEST_ARGS)

bench: setup ## the figures the issues ask of bench/, as one table
	@$(STAGE) "bench" python bench/run.py

# The repository as the collection ddapm.django_datadog (galaxy.yml; README "Use it in your project").
VERSION ?=

collection: venv ## build dist/ddapm-django_datadog-<galaxy.yml version>.tar.gz from the working tree
	@$(STAGE) "collection tarball" python tools/release.py --build-only

release: venv ## make release VERSION=x.y.z: CHANGELOG from changelogs/fragments, commit, tag x.y.z, dist/ tarball
	@python tools/release.py "$(VERSION)"

DEMO := molecule/harness/demo.sh

demo: setup ## the whole flow on one local container host: agent (stand-in), app deploy, a trace's tags
	@$(STAGE) "demo: start the local host ddapm-local (systemd, Debian 12, no network)" $(DEMO) start
	@$(STAGE) "demo: Redis and the sample app's git repository on the host" $(DEMO) sample
	@$(STAGE) "demo: playbooks/site.yml against inventory/local" $(DEMO) site
	@$(STAGE) "demo: playbooks/deploy.yml against inventory/local" $(DEMO) deploy
	@$(STAGE) "demo: what reached the (stand-in) agent" $(DEMO) show

demo-clean: ## remove what make demo started (the ddapm-local container)
	@$(STAGE) "demo clean" $(DEMO) down

harness-down: ## remove this project's Molecule containers and stop the dockerd we started
	@-docker ps -aq --filter label=owner=molecule 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
	@molecule/harness/dockerd.sh down

clean: harness-down ## also drop the venv and caches (images stay in Docker)
	rm -rf $(VENV) .cache .pytest_cache
