# ChatQL: `make run` starts the server, `make test` runs every check. Both install first.
PYTHON ?= python3.13
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench bench-compare bench-app lock clean web web-lint web-unit web-dev web-audit browser media-tools bench-stream
WEB     := web/app
WEB_OUT := chatql/static/app/index.html
WEB_SRC := $(shell find $(WEB)/src $(WEB)/public $(WEB)/scripts -type f -not -path '*/src/gql/*' 2>/dev/null) \
           $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/codegen.ts $(WEB)/tsconfig.json schema.graphql

$(STAMP): pyproject.toml constraints.txt web/graphiql/package-lock.json scripts/build_graphiql_assets.py tests/audit/package-lock.json tests/oidc/package-lock.json tests/clients/package-lock.json
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), "ChatQL needs Python 3.13 (pyenv: see .python-version)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python scripts/build_graphiql_assets.py
	@# the GraphQL-over-HTTP audit the test suite runs (skipped with a warning without npm)
	-cd tests/audit && npm ci --no-audit --no-fund --loglevel=error
	@# the OpenID provider the social sign-in tests go through (npm oidc-provider)
	-cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	@# the ecosystem's client libraries the protocol tests drive (Amplify, Apollo, graphql-sse)
	-cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# The web app: npm ci from the lock, typed documents from schema.graphql (and their persisted
# hashes, scripts/persisted-documents.mjs), then the Vite build
# into chatql/static/app (served at /).
$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_OUT): $(WEB)/node_modules/.installed $(WEB_SRC)
	cd $(WEB) && npm run --silent build

web: $(WEB_OUT)

# Debian's Chromium for the browser tests (Playwright's own download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and this user cannot apt-get it: browser tests will be skipped"; fi; }

# nginx with the RTMP module and ffmpeg for live video (CHATQL_MEDIA=on) and its tests.
media-tools:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then nginx=1; else nginx=; fi; \
	if [ -n "$$nginx" ] && [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] && command -v ffmpeg >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx libnginx-mod-rtmp ffmpeg >/dev/null; \
	else echo "nginx, libnginx-mod-rtmp or ffmpeg is missing and this user cannot apt-get them: live video is off and its tests will be skipped"; fi

install: $(STAMP) web browser media-tools

run: install
	$(BIN)/python -m chatql

lint: install
	$(BIN)/ruff check chatql resolvers tests scripts
	$(BIN)/ruff format --check chatql resolvers tests scripts

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -q

web-lint: web
	cd $(WEB) && npx eslint . && npx tsc -p .

web-unit: web
	cd $(WEB) && npx vitest run

test: lint typecheck web-lint web-unit unit

# Vite's dev server with hot reload on http://127.0.0.1:5173, proxying /graphql (HTTP and
# WebSocket) to a ChatQL started separately (`make run`; WEB_DEV_BACKEND overrides the target).
web-dev: $(WEB)/node_modules/.installed
	cd $(WEB) && npm run codegen && npx vite --host 127.0.0.1

# Lighthouse scores and the initial JavaScript size of the built app, against a fresh ChatQL.
web-audit: install
	@db=$$(mktemp -d); port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'); \
	CHATQL_DATABASE_URL=sqlite:///$$db/audit.db CHATQL_PORT=$$port $(BIN)/python -m chatql >$$db/server.log 2>&1 & pid=$$!; \
	for i in $$(seq 100); do curl -fs http://127.0.0.1:$$port/readyz >/dev/null && break; sleep 0.1; done; \
	CHATQL_URL=http://127.0.0.1:$$port node $(WEB)/e2e/audit.mjs; status=$$?; \
	CHATQL_URL=http://127.0.0.1:$$port node $(WEB)/e2e/audit.mjs --desktop; \
	kill $$pid; rm -rf $$db; exit $$status

# Regenerate the pinned versions from pyproject's lower bounds (needs the package index).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(WEB)/node_modules chatql/static/app

# Benchmarks against ../shared/peer-bench's load generator (README "Benchmarking"). Options come
# from the environment, e.g. `make bench BENCH_SCENARIOS=fanout,query BENCH_QUICK=1`.
bench: install
	$(BIN)/python benchmarks/run.py --target chatql
	$(BIN)/python benchmarks/files.py

# Live video: glass-to-glass latency of the HLS ladder and ffmpeg's CPU per rendition.
bench-stream: install
	$(BIN)/python benchmarks/stream_latency.py

bench-compare: install
	$(BIN)/python benchmarks/run.py --target both

# ChatQL with the generator's plain documents, then with the web app's own (README "Benchmarking").
bench-app: install
	$(BIN)/python benchmarks/run.py --target app
