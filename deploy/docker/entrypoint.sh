#!/bin/sh
# The image's entry point: the first argument picks the program, the rest go to it.
set -eu
what="${1:-}"
[ "$#" -gt 0 ] && shift
case "$what" in
  relay) exec node --enable-source-maps /app/dist/relay/main.js "$@" ;;
  edge) exec node --enable-source-maps /app/dist/workers/node.js "$@" ;;
  keys) exec node /app/dist/scripts/keys.js "$@" ;;
  *)
    echo "relay-backbone: expected relay, edge or keys as the command, got \"$what\"" >&2
    exit 2
    ;;
esac
