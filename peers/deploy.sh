#!/usr/bin/env bash
# Deploys ringtrain to the LAN hosts named in ring.config.json and starts one peer per rank.
# See peers/README.md. Run it from anywhere; it copies the project this script belongs to.
#
#   peers/deploy.sh --config ring.config.json --user alice [--dry-run]
#
# For every host (once, however many ranks it runs): make the directory, copy the project without
# node_modules/.git (rsync, or tar over ssh), copy the config (mode 600: it holds the secret),
# install dependencies (npm ci --omit=dev, else npm install --omit=dev). Then for every rank:
# run `ringtrain doctor` there (a FAIL stops that rank) and start the peer with nohup (log in
# DIR/logs/peer-R.log) or, with --systemd, as ringtrain-peer@R.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: peers/deploy.sh --config FILE --user USER [options]

  --config FILE       ring.config.json with one {host, port} per rank (required)
  --user USER         ssh user on every host (required)
  --dir DIR           project directory on the hosts (default: ringtrain, in USER's home;
                      /opt/ringtrain with --systemd; must be absolute with --systemd)
  --ssh-opt OPT       extra ssh option, as for ssh -o (repeatable), e.g. --ssh-opt Port=2222
  --identity FILE     ssh private key (ssh -i)
  --systemd           run peers as systemd units ringtrain-peer@RANK (needs sudo on the hosts)
  --listen HOST       address the peers bind (passed to 'peer --listen'; e.g. 0.0.0.0)
  --ranks LIST        only these ranks, comma-separated (default: all)
  --copy-data         also copy data.train / data.test named in the config (same relative paths)
  --copy-with TOOL    rsync or tar (default: rsync if installed here, else tar over ssh)
  --no-install        do not run npm on the hosts
  --no-doctor         do not run the doctor preflight before starting a peer
  --stop              stop the peers (nohup pid files or systemd units) and exit
  --logs DIR          fetch every rank's log into DIR and exit
  --dry-run           print every command instead of running it (nothing is contacted)
  -h, --help          this text
EOF
}

die() {
  echo "deploy.sh: $*" >&2
  exit 2
}

CONFIG='' USER_NAME='' DIR='' SYSTEMD=0 LISTEN='' RANKS='' COPY_DATA=0 COPY_WITH='' INSTALL=1 DOCTOR=1 ACTION=deploy LOGDIR='' DRY=0
SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=10)
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG=${2:?--config needs a file}; shift 2 ;;
    --user) USER_NAME=${2:?--user needs a name}; shift 2 ;;
    --dir) DIR=${2:?--dir needs a path}; shift 2 ;;
    --ssh-opt) SSH_OPTS+=(-o "${2:?--ssh-opt needs an option}"); shift 2 ;;
    --identity) SSH_OPTS+=(-i "${2:?--identity needs a file}"); shift 2 ;;
    --systemd) SYSTEMD=1; shift ;;
    --listen) LISTEN=${2:?--listen needs a host}; shift 2 ;;
    --ranks) RANKS=${2:?--ranks needs a list}; shift 2 ;;
    --copy-data) COPY_DATA=1; shift ;;
    --copy-with) COPY_WITH=${2:?--copy-with needs rsync or tar}; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --no-doctor) DOCTOR=0; shift ;;
    --stop) ACTION=stop; shift ;;
    --logs) ACTION=logs; LOGDIR=${2:?--logs needs a directory}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
[ -n "$CONFIG" ] || { usage >&2; die '--config FILE is required'; }
[ -n "$USER_NAME" ] || { usage >&2; die '--user USER is required'; }
[ -f "$CONFIG" ] || die "config file not found: $CONFIG"
if [ -z "$DIR" ]; then
  if [ "$SYSTEMD" = 1 ]; then DIR=/opt/ringtrain; else DIR=ringtrain; fi
fi
[ "$SYSTEMD" = 0 ] || [ "${DIR#/}" != "$DIR" ] || die "--systemd needs an absolute --dir (the unit's WorkingDirectory), got '$DIR'"
if [ -z "$COPY_WITH" ]; then
  if command -v rsync >/dev/null 2>&1; then COPY_WITH=rsync; else COPY_WITH=tar; fi
fi
case "$COPY_WITH" in rsync | tar) ;; *) die "--copy-with must be rsync or tar, got '$COPY_WITH'" ;; esac

SRC=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
command -v node >/dev/null 2>&1 || die 'node is needed here to read the config (Node.js 20 or later)'

# One line per rank: "rank host port", plus "data path" lines; the config is validated for the
# fields this script needs (the peers check the rest when they start).
PLAN=$(node -e '
  const fs = require("fs");
  let c;
  try { c = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch (e) { console.error(`cannot read ${process.argv[1]}: ${e.message}`); process.exit(2); }
  if (!Array.isArray(c.peers) || c.peers.length === 0) { console.error(`${process.argv[1]}: "peers" must list one {host, port} per rank`); process.exit(2); }
  c.peers.forEach((p, r) => {
    if (!p || typeof p.host !== "string" || !p.host || !Number.isInteger(p.port)) { console.error(`${process.argv[1]}: peers[${r}] needs a host and an integer port`); process.exit(2); }
    console.log(`peer ${r} ${p.host} ${p.port}`);
  });
  for (const k of ["train", "test"]) if (c.data && typeof c.data[k] === "string") console.log(`data ${c.data[k]}`);
  if (!c.secret && c.peers.some((p) => !/^(127\.|localhost$|::1$)/.test(p.host))) console.log("nosecret");
' "$CONFIG") || die "bad config $CONFIG"

if grep -qx nosecret <<<"$PLAN"; then
  echo "deploy.sh: warning: $CONFIG sets no secret but its peers are on the network; anyone who reaches their ports could join. Set \"secret\"." >&2
fi

# Quote one word for a POSIX shell (used for both the local and the remote shell).
q() {
  case "$1" in
    '' ) printf "''" ;;
    *[!A-Za-z0-9_./:@%+=,-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}

SSH_ARGS=''
for o in "${SSH_OPTS[@]}"; do SSH_ARGS+=" $(q "$o")"; done
SSH_CMD="ssh$SSH_ARGS"
SCP_CMD="scp$SSH_ARGS"

run() {
  if [ "$DRY" = 1 ]; then
    printf '%s\n' "$1"
  else
    printf '+ %s\n' "$1" >&2
    bash -c "$1"
  fi
}

# ssh USER@HOST 'remote command'
remote() {
  local host=$1 cmd=$2
  run "$SSH_CMD $(q "$USER_NAME@$host") $(q "$cmd")"
}

# user@host: for scp/rsync (IPv6 addresses in brackets)
target() {
  case "$1" in
    *:*) printf '%s@[%s]' "$USER_NAME" "$1" ;;
    *) printf '%s@%s' "$USER_NAME" "$1" ;;
  esac
}

wanted() {
  [ -z "$RANKS" ] && return 0
  case ",$RANKS," in *",$1,"*) return 0 ;; esac
  return 1
}

RDIR=$(q "$DIR")
declare -A HOST_DONE=()
PEER_ARGS=''
[ -z "$LISTEN" ] || PEER_ARGS=" --listen $(q "$LISTEN")"

deploy_host() {
  local host=$1
  if [ "$DRY" = 1 ]; then echo "# host $host"; else echo "deploy.sh: host $host: copy, configure, install" >&2; fi
  remote "$host" "mkdir -p $RDIR/logs"
  if [ "$COPY_WITH" = rsync ]; then
    run "rsync -az --exclude=node_modules/ --exclude=.git/ --exclude=.ringtrain/ --exclude=logs/ --exclude='*.log' -e $(q "$SSH_CMD") $(q "$SRC/") $(q "$(target "$host"):$DIR/")"
  else
    run "tar -C $(q "$SRC") --exclude=./node_modules --exclude=./.git --exclude=./.ringtrain --exclude=./logs --exclude='*.log' -czf - . | $SSH_CMD $(q "$USER_NAME@$host") $(q "tar -xzf - -C $RDIR")"
  fi
  run "$SCP_CMD $(q "$CONFIG") $(q "$(target "$host"):$DIR/ring.config.json")"
  remote "$host" "chmod 600 $RDIR/ring.config.json && chmod +x $RDIR/peers/start-peer.sh $RDIR/peers/deploy.sh"
  if [ "$COPY_DATA" = 1 ]; then
    while read -r path; do
      [ -n "$path" ] || continue
      case "$path" in /*) die "--copy-data copies relative paths only; data path '$path' is absolute (put the file there yourself)" ;; esac
      remote "$host" "mkdir -p $(q "$DIR/$(dirname -- "$path")")"
      run "$SCP_CMD $(q "$path") $(q "$(target "$host"):$DIR/$path")"
    done < <(sed -n 's/^data //p' <<<"$PLAN")
  fi
  if [ "$INSTALL" = 1 ]; then
    remote "$host" "cd $RDIR && (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund)"
  fi
  if [ "$SYSTEMD" = 1 ]; then
    remote "$host" "sed -e $(q "s#/opt/ringtrain#$DIR#g") -e $(q "s#^User=.*#User=$USER_NAME#") $RDIR/peers/ringtrain-peer@.service | sudo tee /etc/systemd/system/ringtrain-peer@.service >/dev/null && sudo systemctl daemon-reload"
  fi
}

# One rank's peer on its host: with --systemd, `systemctl VERB` on its unit; else the nohup
# command given (the peer's pid file is DIR/logs/peer-RANK.pid).
peer_ctl() {
  local rank=$1 host=$2 verb=$3 nohup_cmd=$4
  if [ "$SYSTEMD" = 1 ]; then
    remote "$host" "sudo systemctl $verb ringtrain-peer@$rank"
  else
    remote "$host" "$nohup_cmd"
  fi
}

start_rank() {
  local rank=$1 host=$2
  if [ "$DOCTOR" = 1 ]; then
    # Neighbours not started yet are warnings (exit 0); a FAIL stops here with its reason.
    remote "$host" "cd $RDIR && node --import tsx src/cli.ts doctor --config ring.config.json --rank $rank$PEER_ARGS"
  fi
  peer_ctl "$rank" "$host" restart \
    "cd $RDIR && { nohup peers/start-peer.sh --config ring.config.json --rank $rank$PEER_ARGS > logs/peer-$rank.log 2>&1 < /dev/null & echo \$! > logs/peer-$rank.pid; }"
}

stop_rank() {
  local rank=$1 host=$2
  peer_ctl "$rank" "$host" stop \
    "cd $RDIR && if [ -f logs/peer-$rank.pid ]; then kill \$(cat logs/peer-$rank.pid) 2>/dev/null || true; rm -f logs/peer-$rank.pid; fi"
}

fetch_log() {
  local rank=$1 host=$2
  local out="$LOGDIR/rank-$rank-${host//[:\/]/_}.log"
  if [ "$SYSTEMD" = 1 ]; then
    run "$SSH_CMD $(q "$USER_NAME@$host") $(q "journalctl -u ringtrain-peer@$rank --no-pager -o cat") > $(q "$out")"
  else
    run "$SCP_CMD $(q "$(target "$host"):$DIR/logs/peer-$rank.log") $(q "$out")"
  fi
}

[ "$ACTION" != logs ] || [ "$DRY" = 1 ] || mkdir -p "$LOGDIR"
count=0
while read -r _ rank host port; do
  wanted "$rank" || continue
  count=$((count + 1))
  case "$ACTION" in
    deploy)
      if [ -z "${HOST_DONE[$host]:-}" ]; then
        deploy_host "$host"
        HOST_DONE[$host]=1
      fi
      [ "$DRY" = 0 ] || echo "# rank $rank on $host:$port"
      start_rank "$rank" "$host"
      ;;
    stop) stop_rank "$rank" "$host" ;;
    logs) fetch_log "$rank" "$host" ;;
  esac
done < <(grep '^peer ' <<<"$PLAN")
[ "$count" -gt 0 ] || die "no rank selected (--ranks '$RANKS')"

if [ "$ACTION" = deploy ] && [ "$DRY" = 0 ]; then
  echo "deploy.sh: started $count peer(s). Follow them with: peers/deploy.sh --config $CONFIG --user $USER_NAME${SYSTEMD:+$([ "$SYSTEMD" = 1 ] && echo ' --systemd')} --logs logs/" >&2
fi
