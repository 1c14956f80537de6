#!/usr/bin/env bash
# LAN simulator for `ringtrain bench`: N Linux network namespaces (rt-ns-0 … rt-ns-N-1), each
# with one "NIC" (veth, MTU 1500, address 10.77.0.(r+1)/24) plugged into a bridge that lives in
# its own namespace (rt-ns-br), optionally shaped by tc tbf to a link rate in both directions.
# One bench peer runs per namespace (ip netns exec), the bench itself runs here and talks to its
# peers only through pipes. Nothing is created in, or sent through, the host's own namespace.
#
#   scripts/lan-sim.sh [N] [RATE] [-- extra bench flags]
#     N     ring size (default 4)
#     RATE  tc tbf rate per link, e.g. 1gbit, 100mbit; 'none' for unshaped veths (default 1gbit)
#   e.g. scripts/lan-sim.sh 4 1gbit -- --sizes 1MiB,16MiB --json lan.json --svg lan.svg
#
# Needs root (CAP_NET_ADMIN/CAP_SYS_ADMIN). Where namespaces are not permitted it says so and
# exits 0. Namespaces are removed on exit, also on Ctrl-C.
set -uo pipefail

N=${1:-4}
RATE=${2:-1gbit}
shift $(( $# >= 2 ? 2 : $# ))
[[ "${1:-}" == "--" ]] && shift
EXTRA=("$@")

cd "$(dirname "$0")/.."

if ! [[ "$N" =~ ^[0-9]+$ ]] || (( N < 2 || N > 32 )); then
  echo "lan-sim: N must be 2..32, got '$N'" >&2
  exit 2
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "lan-sim: skipped: the 'ip' command (iproute2) is not installed"
  exit 0
fi
if ! ip netns add rt-ns-probe 2>/dev/null; then
  echo "lan-sim: skipped: network namespaces are not permitted here (needs root / CAP_SYS_ADMIN)"
  exit 0
fi
ip netns del rt-ns-probe

cleanup() {
  for ((i = 0; i < N; i++)); do ip netns del "rt-ns-$i" 2>/dev/null; done
  ip netns del rt-ns-br 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup # leftovers from an interrupted run

fail() {
  echo "lan-sim: $*" >&2
  exit 1
}

shape() { # namespace device
  [[ "$RATE" == "none" ]] && return 0
  # A small bucket (128 KiB: above one GSO super-packet and one timer tick at 1 Gbit/s) keeps
  # bursts from flattering short runs.
  ip -n "$1" link set "$2" gso_max_size 65536 2>/dev/null
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$RATE" burst 128kb latency 20ms ||
    fail "tc tbf rate $RATE on $1/$2 failed (is sch_tbf available?)"
}

ip netns add rt-ns-br || fail "cannot create namespace rt-ns-br"
ip -n rt-ns-br link add br0 type bridge || fail "cannot create a bridge"
ip -n rt-ns-br link set br0 up
HOSTS=()
for ((i = 0; i < N; i++)); do
  ns="rt-ns-$i"
  ip netns add "$ns" || fail "cannot create namespace $ns"
  # Both veth ends are created straight inside the namespaces.
  ip -n rt-ns-br link add "v$i" type veth peer name eth0 netns "$ns" || fail "cannot create veth pair for $ns"
  ip -n rt-ns-br link set "v$i" master br0
  ip -n rt-ns-br link set "v$i" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  shape "$ns" eth0 # egress of this host's NIC
  shape rt-ns-br "v$i" # egress of the switch port towards it (the NIC's receive side)
  HOSTS+=("10.77.0.$((i + 1)):7000")
done
HOSTLIST=$(IFS=,; echo "${HOSTS[*]}")

# Wait until the bridge forwards (ports leave the listening state; STP is off, so this is quick).
for ((t = 0; t < 50; t++)); do
  if ip netns exec rt-ns-0 ping -c1 -W1 "10.77.0.$N" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

echo "lan-sim: $N namespaces on bridge rt-ns-br/br0, 10.77.0.1-$N, link rate ${RATE} (tc tbf), MTU 1500"
if [[ "$RATE" != "none" ]]; then
  echo "lan-sim: link rate ${RATE}: a ring that fills every link has busbw = the link rate"
fi
npx tsx src/cli.ts bench --hosts "$HOSTLIST" --wrap 'ip netns exec rt-ns-{rank}' --baselines tcp "${EXTRA[@]}"
