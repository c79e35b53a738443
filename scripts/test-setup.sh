#!/usr/bin/env bash
# Test set-up, run first by `npm test` and by .ci/run: make sure the programs the tests drive are
# installed. The one list of Debian packages the tests need:
#   redis-server  a real Redis (or one already answering on 127.0.0.1:6379, or REDIS_URL)
#   coturn        turnutils_uclient and turnutils_peer, the third-party TURN client and peer
#   chromium      headless WebRTC calls (playwright-core drives it; CHROMIUM_PATH overrides)
#   openssl       throwaway certificates for the TLS tests
#   nftables, iproute2   network namespaces and NAT for the deployment rehearsal
#   python3-yaml, systemd   the deployment files' checks (compose.yaml parsed, units verified)
# As root, what is missing is installed with apt-get (no prompt: CI=true, no stdin); otherwise
# the script stops at once with one line naming the command to run. Nothing is skipped.
set -euo pipefail

say() { printf 'test-setup: %s\n' "$*" >&2; }

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
