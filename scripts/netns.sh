#!/usr/bin/env bash
# A throwaway LAN in Linux network namespaces, for testing ringtrain peers on separate addresses
# (test/lan/netns.test.ts uses it; run it by hand to experiment). Needs root (CAP_SYS_ADMIN and
# CAP_NET_ADMIN).
#
#   scripts/netns.sh check                       exit 0 if namespaces can be created here
#   scripts/netns.sh create PREFIX N SUBNET      N hosts PREFIX-0..N-1 on a bridge in PREFIX-br;
#                                                host i gets SUBNET.(i+1)/24 on eth0 (SUBNET = a.b.c)
#   scripts/netns.sh destroy PREFIX              delete PREFIX-br and PREFIX-<digits>
#   scripts/netns.sh list [PREFIX]               namespaces with that prefix (default rtlan-)
#
# Every link is created inside the new namespaces (the bridge and the host ends of the veth pairs
# live in PREFIX-br): nothing is added to, or routed from, the namespace this script runs in, and
# the namespaces have no route anywhere else. Example:
#
#   sudo scripts/netns.sh create rtlan-demo 4 10.231.7
#   sudo ip netns exec rtlan-demo-0 node --import tsx src/cli.ts peer --config cfg.json --rank 0 &
#   ...
#   sudo scripts/netns.sh destroy rtlan-demo
set -euo pipefail

die() {
  echo "netns.sh: $*" >&2
  exit 2
}

valid_prefix() {
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,20}$ ]] || die "prefix must be 1-21 letters, digits or '-', got '$1'"
}

cmd=${1:-}
case "$cmd" in
  check)
    probe="rtlan-probe-$$"
    if ! command -v ip >/dev/null 2>&1; then
      echo "netns.sh: the 'ip' command (iproute2) is not installed" >&2
      exit 1
    fi
    if ! err=$(ip netns add "$probe" 2>&1); then
      echo "netns.sh: cannot create network namespaces here: $err" >&2
      exit 1
    fi
    if ! err=$(ip -n "$probe" link add rtprobe0 type veth peer name rtprobe1 2>&1); then
      ip netns del "$probe" || true
      echo "netns.sh: cannot create veth pairs here: $err" >&2
      exit 1
    fi
    if ! err=$(ip netns exec "$probe" true 2>&1); then
      ip netns del "$probe" || true
      echo "netns.sh: cannot run commands in a namespace (ip netns exec): $err" >&2
      exit 1
    fi
    ip netns del "$probe"
    echo "netns.sh: network namespaces work here"
    ;;
  create)
    [ $# -eq 4 ] || die 'usage: create PREFIX N SUBNET (e.g. create rtlan-demo 4 10.231.7)'
    prefix=$2 n=$3 subnet=$4
    valid_prefix "$prefix"
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "N must be 1..200, got '$n'"
    [[ "$subnet" =~ ^10\.231\.[0-9]{1,3}$ ]] || die "SUBNET must be 10.231.X (the test range), got '$subnet'"
    br="$prefix-br"
    # On any failure, remove what was made so far.
    trap 'status=$?; if [ $status -ne 0 ]; then "$0" destroy "$prefix" >/dev/null 2>&1 || true; fi' EXIT
    ip netns add "$br"
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    for ((i = 0; i < n; i++)); do
      ns="$prefix-$i"
      ip netns add "$ns"
      ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns"
      ip -n "$br" link set "v$i" master br0
      ip -n "$br" link set "v$i" up
      ip -n "$ns" link set lo up
      ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev eth0
      ip -n "$ns" link set eth0 up
      echo "$ns $subnet.$((i + 1))"
    done
    trap - EXIT
    ;;
  destroy)
    [ $# -eq 2 ] || die 'usage: destroy PREFIX'
    valid_prefix "$2"
    status=0
    for ns in $(ip netns list | awk '{print $1}'); do
      if [ "$ns" = "$2-br" ] || [[ "$ns" =~ ^$2-[0-9]+$ ]]; then
        ip netns del "$ns" || status=1
      fi
    done
    exit $status
    ;;
  list)
    ip netns list | awk '{print $1}' | grep -E "^${2:-rtlan-}" || true
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    [ -n "$cmd" ] && [ "$cmd" != -h ] && [ "$cmd" != --help ] && exit 2
    exit 0
    ;;
esac
