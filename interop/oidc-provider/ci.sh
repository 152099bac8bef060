#!/usr/bin/env bash
# CI: tokenlife against node-oidc-provider (a real third-party server) on a real clock.
# Installs the locked packages (npm ci), starts the provider on a free loopback port, waits
# for the target file it writes, runs the suite with the accepted divergences, and stops
# the provider on every way out. Exits with tokenlife's code: 0 when the only divergences
# are the expected ones (and none of those is stale), 1 otherwise; 3/4 for a bad file or an
# unreachable provider; 2 when node or npm is missing or the provider did not start.
#
#   interop/oidc-provider/ci.sh [extra tokenlife run arguments...]
#
# Environment: TOKENLIFE (the binary; default target/debug/tokenlife, built first),
# ACCESS_TTL / REFRESH_TTL / SKEW (passed to start.js), SEED (the random sequences' seed,
# default 1), REPORT_DIR (keeps report.json, junit.xml and report.md), SCOPES (passed to
# start.js: the clients' registered scopes; SCOPES="openid offline_access api" is the
# second target, one resource scope), INFER (a file: first `tokenlife infer` writes the
# policy it infers there, then the run judges the provider by that file instead of
# policy.toml, through `run --policy`).
#
#   DPOP=1 interop/oidc-provider/ci.sh            # the DPoP configuration (RFC 9449)
#   DPOP=1 DPOP_NONCE=1 interop/oidc-provider/ci.sh   # ... with the server nonce
#
# DPOP=1 (passed to start.js) starts the provider's DPoP configuration (dpop.js: both clients
# DPoP-bound, the public client's refresh token bound and never rotated), judged by
# policy-dpop.toml and expected-divergences-dpop.toml instead; DPOP_NONCE=1 on top makes the
# token endpoint demand its nonce (the target's policy then says dpop_nonce = true).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "interop/oidc-provider: $tool is not installed" >&2
    exit 2
  fi
done

# The binary: $TOKENLIFE, or the workspace's debug build, brought up to date first (a no-op
# after `cargo test --workspace`; the run waits on the provider's clock, so a release build
# is no faster).
bin="${TOKENLIFE:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --quiet --locked -p tokenlife)
  bin="$root/target/debug/tokenlife"
fi

echo "== npm ci (interop/oidc-provider)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

work="$(mktemp -d)"
provider_pid=""
cleanup() {
  if [ -n "$provider_pid" ] && kill -0 "$provider_pid" 2>/dev/null; then
    kill -TERM "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The configuration: plain, or DPoP (start.js reads DPOP and DPOP_NONCE itself).
expected="$here/expected-divergences.toml"
mode=""
if [ "${DPOP:-0}" = 1 ]; then
  expected="$here/expected-divergences-dpop.toml"
  mode=" (DPoP)"
  if [ "${DPOP_NONCE:-0}" = 1 ]; then
    mode=" (DPoP, nonce)"
  fi
fi

echo "== starting node-oidc-provider${mode}${SCOPES:+ (scopes: $SCOPES)}"
target="$work/target.toml"
log="$work/provider.log"
(cd "$here" && TARGET_FILE="$target" exec node start.js) >"$log" 2>&1 &
provider_pid=$!

# Poll for the target file the provider writes once it listens (RSA key generation and
# module loading take a second or two).
for _ in $(seq 1 150); do
  [ -s "$target" ] && break
  if ! kill -0 "$provider_pid" 2>/dev/null; then
    echo "interop/oidc-provider: the provider exited before it was ready:" >&2
    cat "$log" >&2
    exit 2
  fi
  sleep 0.2
done
if [ ! -s "$target" ]; then
  echo "interop/oidc-provider: the provider wrote no target file within 30 s:" >&2
  cat "$log" >&2
  exit 2
fi
grep '^ready' "$log" || true

# The shipped scenarios plus the pins of this folder (one scenario per known divergence, run
# one at a time, so each divergence shows on every run and no entry goes stale).
scenarios="$work/scenarios"
mkdir -p "$scenarios"
cp "$root"/scenarios/*.toml "$here"/scenarios/*.toml "$scenarios"/

policy_args=()
if [ -n "${INFER:-}" ]; then
  echo "== tokenlife infer against node-oidc-provider (into $INFER)"
  started=$(date +%s)
  set +e
  "$bin" infer --target "$target" >"$INFER"
  code=$?
  set -e
  echo "tokenlife infer against node-oidc-provider: exit $code after $(($(date +%s) - started)) s"
  grep '^# ' "$INFER" | grep -v '^#   ' || true
  if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
    exit "$code"
  fi
  policy_args=(--policy "$INFER")
fi

echo "== tokenlife run against node-oidc-provider${mode}"
report_args=()
if [ -n "${REPORT_DIR:-}" ]; then
  report_args=(--report-dir "$REPORT_DIR")
fi
started=$(date +%s)
set +e
"$bin" run --target "$target" --seed "${SEED:-1}" \
  --scenarios "$scenarios" --expect-divergences "$expected" "${report_args[@]}" "${policy_args[@]}" "$@"
code=$?
set -e
echo "tokenlife run against node-oidc-provider${mode}: exit $code after $(($(date +%s) - started)) s"
if [ "$code" -ne 0 ]; then
  echo "-- provider log (errors only)" >&2
  grep -v 'WARNING\|NOTICE' "$log" >&2 || true
fi
exit "$code"
