#!/usr/bin/env bash
# CI: tokenlife against django-oauth-toolkit 3.4.1 (a real third-party server) on a real
# clock. Installs the pinned packages (requirements.txt, hash-checked) into a virtualenv,
# starts the test project on a free loopback port, waits for the target file it writes,
# runs the suite with the accepted divergences, and stops the server on every way out.
# Exits with tokenlife's code: 0 when the only divergences are the expected ones (and none
# of those is stale), 1 otherwise; 3/4 for a bad file or an unreachable server; 2 when
# python3 (>= 3.10) or pip is missing, the install fails, or the server did not start.
#
#   interop/django-oauth-toolkit/ci.sh [extra tokenlife run arguments...]
#
# Environment: TOKENLIFE (the binary; default target/debug/tokenlife, built first),
# ACCESS_TTL / REFRESH_TTL / SKEW / PROCESSES / THREADS (passed to start.py), SEED (the
# random sequences' seed, default 1), DEPTH (the exhaustive phase's depth; default
# tokenlife's), TIMEOUT (the per-request timeout, default 30 s), REPORT_DIR (keeps
# report.json, junit.xml and report.md), VENV (the virtualenv; default a cache folder named after requirements.txt's
# hash, reused while that file is unchanged), INFER (a file: first `tokenlife infer` writes
# the policy it infers there, then the run judges DOT by that file instead of policy.toml,
# through `run --policy`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "interop/django-oauth-toolkit: $python is not installed" >&2
  exit 2
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "interop/django-oauth-toolkit: django-oauth-toolkit 3.4.1 needs Python >= 3.10, not $("$python" --version 2>&1)" >&2
  exit 2
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "interop/django-oauth-toolkit: pip is not installed for $python" >&2
  exit 2
fi

# The binary: $TOKENLIFE, or the workspace's debug build, brought up to date first (a no-op
# after `cargo test --workspace`; the run waits on the server's clock, so a release build
# is no faster).
bin="${TOKENLIFE:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --quiet --locked -p tokenlife)
  bin="$root/target/debug/tokenlife"
fi

# The virtualenv: made once per requirements.txt (and Python), then reused; a half-made one
# is never used (it is built beside and renamed into place).
lock_hash=$( (cat "$here/requirements.txt"; "$python" --version) | sha256sum | cut -c1-16)
venv="${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenlife/django-oauth-toolkit-$lock_hash}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== pip install (interop/django-oauth-toolkit)"
  mkdir -p "$(dirname "$venv")"
  building="$venv.building.$$"
  rm -rf "$building"
  if ! "$python" -m venv "$building" >/dev/null 2>&1; then
    # Debian's python3 needs its venv package (ensurepip) for `python3 -m venv`.
    if command -v apt-get >/dev/null 2>&1; then
      ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv") >/dev/null 2>&1 || true
    fi
    rm -rf "$building"
    if ! "$python" -m venv "$building"; then
      echo "interop/django-oauth-toolkit: $python cannot make a virtualenv" >&2
      exit 2
    fi
  fi
  if ! "$building/bin/python" -m pip install --quiet --disable-pip-version-check \
      --require-hashes --only-binary=:all: -r "$here/requirements.txt"; then
    rm -rf "$building"
    echo "interop/django-oauth-toolkit: pip install failed" >&2
    exit 2
  fi
  rm -rf "$venv"
  mv "$building" "$venv"
fi

# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    # start.py stops its other server processes itself; should it hang, they and it are
    # killed after 10 s.
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "interop/django-oauth-toolkit: the server did not stop on SIGTERM; killing it" >&2
      pkill -KILL -P "$server_pid" 2>/dev/null || true
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== starting django-oauth-toolkit"
target="$work/target.toml"
log="$work/server.log"
(cd "$here" && TARGET_FILE="$target" DOT_DATABASE="$work/db.sqlite3" exec "$venv/bin/python" start.py) >"$log" 2>&1 &
server_pid=$!

# Poll for the target file the server writes once it listens (the migrations take a few
# seconds).
for _ in $(seq 1 300); do
  [ -s "$target" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "interop/django-oauth-toolkit: the server exited before it was ready:" >&2
    cat "$log" >&2
    exit 2
  fi
  sleep 0.2
done
if [ ! -s "$target" ]; then
  echo "interop/django-oauth-toolkit: the server wrote no target file within 60 s:" >&2
  cat "$log" >&2
  exit 2
fi
grep '^ready' "$log" || true

# The shipped scenarios plus the pins of this folder (one scenario per known divergence, so
# each shows on every run and no entry goes stale).
scenarios="$work/scenarios"
mkdir -p "$scenarios"
cp "$root"/scenarios/*.toml "$here"/scenarios/*.toml "$scenarios"/

# What DOT does that the RFCs forbid; everything else it does, policy.toml declares.
expected="$here/expected-divergences.toml"

policy_args=()
if [ -n "${INFER:-}" ]; then
  echo "== tokenlife infer against django-oauth-toolkit (into $INFER)"
  started=$(date +%s)
  set +e
  "$bin" infer --target "$target" --timeout "${TIMEOUT:-30}" >"$INFER"
  code=$?
  set -e
  echo "tokenlife infer against django-oauth-toolkit: exit $code after $(($(date +%s) - started)) s"
  grep '^# ' "$INFER" | grep -v '^#   ' || true
  if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
    exit "$code"
  fi
  policy_args=(--policy "$INFER")
fi

echo "== tokenlife run against django-oauth-toolkit"
report_args=()
if [ -n "${REPORT_DIR:-}" ]; then
  report_args=(--report-dir "$REPORT_DIR")
fi
if [ -n "${DEPTH:-}" ]; then
  report_args+=(--depth "$DEPTH")
fi
started=$(date +%s)
set +e
"$bin" run --target "$target" --seed "${SEED:-1}" \
  --timeout "${TIMEOUT:-30}" --scenarios "$scenarios" --expect-divergences "$expected" "${report_args[@]}" "${policy_args[@]}" "$@"
code=$?
set -e
echo "tokenlife run against django-oauth-toolkit: exit $code after $(($(date +%s) - started)) s; $(grep -c "^slow request" "$log" || true) server requests took 2 s or more"
if [ "$code" -ne 0 ]; then
  echo "-- server log" >&2
  cat "$log" >&2 || true
fi
exit "$code"
