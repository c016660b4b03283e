# The front door: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
IVR    := $(VENV)/bin/ivr
FLOW   := flows/bank_hotline.yaml

.PHONY: demo desk test test-all test-slow qa lint bench bench-intent bench-banking77 bench-calls \
	bench-speech bench-speech-independent bench-trust bench-phone bench-queue install samples \
	clean bank

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The replay decodes cold (new recognisers per utterance, as `ivr test` does): warm, what a
# recording is heard as can depend on the recordings before it, and ko_fraud.wav after
# ko_credit_report.wav was heard as noise, so the demo exited 1 (24 of 25 expectations).
demo: install
	@rm -f var/demo-queue.sqlite3*
	$(IVR) replay --cold --flow $(FLOW) --queue var/demo-queue.sqlite3 samples/calls/*.yaml
	@echo
	sh samples/demo_bank.sh $(PY) $(IVR) $(FLOW) var/demo-queue.sqlite3
	@echo
	@echo "--- the human queue after the demo (ivr queue list / take) ---"
	$(IVR) queue list --queue var/demo-queue.sqlite3
	$(IVR) queue take --queue var/demo-queue.sqlite3
	@echo
	@echo "--- the agent desk: run 'make desk', open http://127.0.0.1:8080/ and log in as"
	@echo "    $(DESK_AGENT) / $(DESK_PASSWORD) (agent) or $(DESK_LEAD) / $(DESK_LEAD_PASSWORD) (supervisor) ---"

# The agent desk over the demo queue (filled by `make demo` if missing), with a demo agent and
# a demo supervisor (recreated each time; demo passwords, loopback only). Ctrl-C stops it.
DESK_AGENTS        := var/demo-agents.sqlite3
DESK_AGENT         := demo
DESK_PASSWORD      := demo-password
DESK_LEAD          := lead
DESK_LEAD_PASSWORD := lead-password
desk: install
	@test -f var/demo-queue.sqlite3 || $(IVR) replay --cold --flow $(FLOW) --queue var/demo-queue.sqlite3 samples/calls/*.yaml >/dev/null
	@rm -f $(DESK_AGENTS)
	@echo $(DESK_PASSWORD) | $(IVR) desk agent add $(DESK_AGENT) --agents $(DESK_AGENTS) --role agent --skills fraud,zh,en,ko
	@echo $(DESK_LEAD_PASSWORD) | $(IVR) desk agent add $(DESK_LEAD) --agents $(DESK_AGENTS) --role supervisor --skills fraud,zh,en,ko
	@echo "Agent desk: http://127.0.0.1:8080/  log in as $(DESK_AGENT) / $(DESK_PASSWORD) (agent) or $(DESK_LEAD) / $(DESK_LEAD_PASSWORD) (supervisor)"
	$(IVR) desk --queue var/demo-queue.sqlite3 --flow $(FLOW) --agents $(DESK_AGENTS) --listen 127.0.0.1:8080

# The sample bank back-end (samples/bank, docs/backend.md), seeded afresh with 300 made-up
# customers (PIN hashes at scrypt N=4096: ~6 s to seed, not ~25 s); runs in the foreground
# until Ctrl-C. The engine's client reads the same token from $$IVR_BANK_TOKEN and the URL
# from $$IVR_BANK_URL (http://127.0.0.1:8765); the switches are on the admin port, 8766.
BANK_DB     ?= var/bank.sqlite3
BANK_LISTEN ?= 127.0.0.1:8765
BANK_TOKEN  ?= demo-token
bank: install
	$(PY) -m samples.bank seed --db $(BANK_DB) --customers 300 --pin-cost 4096
	BANK_TOKEN=$(BANK_TOKEN) $(PY) -m samples.bank --listen $(BANK_LISTEN) --db $(BANK_DB)

# The quick suite (no test marked slow, i.e. no long Vosk decoding); `make test-all` runs everything.
test: install
	$(PY) -m pytest -m "not slow"

test-all: install
	$(PY) -m pytest

# Only the slow tests (.ci/run runs `make test` then this).
test-slow: install
	$(PY) -m pytest -m slow

# QA: the committed call suite, in parallel, with JSON, JUnit and HTML reports in var/qa/.
qa: install
	$(IVR) test tests/calls --flow $(FLOW) --json var/qa/report.json --junit var/qa/junit.xml --html var/qa/html

lint: install
	$(VENV)/bin/ruff check ivr bench tests
	$(VENV)/bin/mypy

# Benchmarks live in bench/ (not in the package: they read tests/data and samples/ from the
# checkout); run them from the repo root. Results go to bench/results.
bench: bench-intent bench-banking77 bench-calls bench-speech bench-trust

bench-intent: install
	$(PY) -m bench.intent --flow $(FLOW) --out bench/results

# The public BANKING77 benchmark (data in ../shared/data/banking77 or $IVR_BANKING77; ~8 min).
bench-banking77: install
	$(PY) -m bench.banking77 --out bench/results

bench-calls: install
	$(PY) -m bench.calls --flow $(FLOW) --out bench/results

# The human queue, SQLite and Redis in one run: 4 engines x 250 handoffs with 20 agents, kill -9
# of engines and agents, a Redis restart (AOF, fsync always); needs redis-server (~3 min).
bench-queue: install
	$(PY) -m bench.queue --out bench/results

# Speech front-end vs the plain pipeline on synthetic Korean callers (needs espeak-ng; ~30 min).
bench-speech: install
	$(PY) -m bench.speech --flow $(FLOW) --out bench/results

# Speech accuracy on independent Korean callers (eval/independent), 16 kHz and 8 kHz mu-law /
# A-law, three pipelines in one run; WAVs cached in var/speech_independent (~1 h on 2 cores).
bench-speech-independent: install
	$(PY) -m bench.speech_independent --flow $(FLOW) --split test --out bench/results

# Trust: memory against call length (bench.trust_audio) and the flow checks (bench.trust_flow);
# each module that exists in bench/ runs.
TRUST := $(basename $(notdir $(wildcard bench/trust_*.py)))
bench-trust: install
	@for m in $(TRUST); do echo "$(PY) -m bench.$$m --out bench/results"; \
	  $(PY) -m bench.$$m --out bench/results || exit 1; done

# Phone calls: 24 concurrent baresip callers through one `ivr serve` on loopback (needs
# baresip, sox, espeak-ng; the jitter tap needs CAP_NET_RAW); `make bench-phone ARGS=--quick`.
bench-phone: install
	$(PY) -m bench.phone --out bench/results $(ARGS)

# Regenerate the committed sample WAVs (needs espeak-ng and sox).
samples:
	bash samples/make_audio.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
