#!/bin/sh
# The entry point a LAN host runs for its rank:
#
#   peers/start-peer.sh --config ring.config.json --rank R [any 'ringtrain peer' flag]
#
# It runs `ringtrain peer` from the ringtrain directory (the one above this script), whatever
# directory it is started from, so relative paths in ring.config.json (data files) resolve
# against that directory on every host alike. It is what `npx tsx src/cli.ts peer ...` does, but
# as one process (node with the tsx loader, exec'd): systemd and nohup signal the peer itself.
#
# Environment: RINGTRAIN_NODE  node binary to use (default: node on PATH; must be Node.js >= 20).
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
cd "$here/.."

node=${RINGTRAIN_NODE:-node}
if ! command -v "$node" >/dev/null 2>&1; then
  echo "start-peer.sh: '$node' not found; install Node.js 20 or later (or set RINGTRAIN_NODE)" >&2
  exit 2
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "start-peer.sh: Node.js $("$node" -v) is too old; ringtrain needs 20 or later" >&2
  exit 2
fi
if [ ! -d node_modules/tsx ]; then
  echo "start-peer.sh: dependencies missing in $(pwd); run 'npm ci --omit=dev' there first" >&2
  exit 2
fi

exec "$node" --import tsx src/cli.ts peer "$@"
