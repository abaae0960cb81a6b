#!/usr/bin/env bash
# The whole story on a fresh machine: install hookctl, start the sandbox (a local
# Keap-compatible server with a handshake-answering receiver), plan and apply
# examples/hooks.yaml, see the hooks Verified, see that a second plan is empty, then make a
# change by hand and watch `hookctl drift` catch it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/hookctl ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
fi
export PATH="$PWD/.venv/bin:$PATH"

port=${SANDBOX_PORT:-8787}
workdir=$(mktemp -d)
export KEAP_API_URL="http://127.0.0.1:$port/crm/rest/v1"
export KEAP_API_KEY="demo-key-not-a-secret"
export HOOKS_BASE_URL="http://127.0.0.1:$port/_sandbox/receiver"

hookctl sandbox --port "$port" --db "$workdir/sandbox.db" >"$workdir/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_sandbox/health')" \
    2>/dev/null && break
  sleep 0.1
done

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step hookctl validate -f examples/hooks.yaml
step hookctl plan -f examples/hooks.yaml
step hookctl apply -f examples/hooks.yaml --auto-approve
step hookctl hooks list
step hookctl plan -f examples/hooks.yaml --detailed-exitcode

# Someone "fixes" a hook by hand in the Keap account...
key=$(hookctl hooks list --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])')
step hookctl hooks delete "$key" --yes
# ...and the scheduled drift check notices (exit status 2 means drift).
set +e
step hookctl drift -f examples/hooks.yaml
status=$?
set -e
printf '\ndrift exit status: %s (2 = the account drifted from hooks.yaml)\n' "$status"
[ "$status" -eq 2 ]
step hookctl apply -f examples/hooks.yaml --auto-approve
step hookctl drift -f examples/hooks.yaml
