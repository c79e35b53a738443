#!/usr/bin/env bash
# Test set-up, run first by `npm test` and by .ci/run: make sure the programs the tests drive are
# installed. The one list of Debian packages the tests need:
#   redis-server  a real Redis (or one already answering on 127.0.0.1:6379, or REDIS_URL)
#   coturn        turnutils_uclient and turnutils_peer, the third-party TURN client and peer
#   chromium      headless WebRTC calls (playwright-core drives it; CHROMIUM_PATH overrides)
#   openssl       throwaway certificates for the TLS tests
#   nftables, iproute2   network namespaces and NAT for the deployment rehearsal
#   python3-yaml, systemd   the deployment files' checks (compose.yaml parsed, units verified)
#   gcc, libc6-dev   the C compiler and headers for the native UDP addon (npm run build:native)
# With --bench (npm run bench:setup), also what the benchmarks need beyond the tests:
#   golang-go, golang-github-pion-turn.v2-dev   Pion's TURN server, built by bench/turn-relay.ts
#   (PION_SOURCE overrides where Pion's source is looked for.)
# As root, what is missing is installed with apt-get (no prompt: CI=true, no stdin); otherwise
# the script stops at once with one line naming the command to run. Nothing is skipped.
set -euo pipefail

say() { printf 'test-setup: %s\n' "$*" >&2; }

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *)
      say "unknown argument: $arg (expected --bench or nothing)"
      exit 2
      ;;
  esac
done

# A command on the PATH, or in an sbin directory a non-root PATH may leave out.
have() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# A Redis answering PING on 127.0.0.1:6379 serves the tests without redis-server installed.
redis_answers() {
  [ -n "${REDIS_URL:-}" ] && return 0
  (
    exec 3<>/dev/tcp/127.0.0.1/6379 || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    [[ "$reply" == +PONG* ]]
  ) 2>/dev/null
}

# Debian packages whose command is missing, space-separated.
missing() {
  local need=()
  have redis-server || redis_answers || need+=(redis-server)
  { have turnutils_uclient && have turnutils_peer; } || need+=(coturn)
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
  have openssl || need+=(openssl)
  have nft || need+=(nftables)
  have ip || need+=(iproute2)
  # The deployment files' checks: compose.yaml parsed, the systemd units verified.
  python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
  have systemd-analyze || need+=(systemd)
  # The native UDP addon (--udp-io native): any C compiler on the PATH as cc, and libc's headers.
  have cc || need+=(gcc)
  [ -f /usr/include/x86_64-linux-gnu/sys/socket.h ] || [ -f /usr/include/sys/socket.h ] ||
    [ -f "/usr/include/$(uname -m)-linux-gnu/sys/socket.h" ] || need+=(libc6-dev)
  if [ "$bench" -eq 1 ]; then
    have go || need+=(golang-go)
    [ -f "${PION_SOURCE:-/usr/share/gocode/src/github.com/pion/turn/v2}/server.go" ] ||
      need+=(golang-github-pion-turn.v2-dev)
  fi
  printf '%s' "${need[*]:-}"
}

need="$(missing)"
if [ -z "$need" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "missing Debian packages; run: sudo apt-get install -y $need"
  exit 1
fi
if ! have apt-get; then
  say "missing $need and there is no apt-get; install them with this system's package manager"
  exit 1
fi

say "installing $need"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package
if ! apt-get update -qq </dev/null || ! apt-get install -y -qq --no-install-recommends $need </dev/null >/dev/null; then
  say "apt-get install $need failed; run it by hand to see why: apt-get install -y $need"
  exit 1
fi
# Debian's coturn package may start its own turnserver on 3478; the tests pick their own ports.
case " $need " in
  *" coturn "*) if have systemctl; then systemctl stop coturn >/dev/null 2>&1 || true; fi ;;
esac

still="$(missing)"
if [ -n "$still" ]; then
  say "still missing after apt-get install: $still"
  exit 1
fi
