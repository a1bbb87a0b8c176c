#!/usr/bin/env bash
# Starts production-shaped broker topologies on loopback from the Debian
# packages (nats-server, redis-server, redis-sentinel, redis-tools):
#
#   scripts/topology.sh up   nats-cluster     # nats://127.0.0.1:4231,…:4232,…:4233
#   scripts/topology.sh up   redis-sentinel   # redis+sentinel://127.0.0.1:26379,…:26380,…:26381/psrpc
#   scripts/topology.sh up   redis-cluster    # redis+cluster://127.0.0.1:7000,…,127.0.0.1:7005
#   scripts/topology.sh down <name>           # stops it and removes its files
#   scripts/topology.sh kill <name> <port>    # kills one node (try a failover)
#
# Processes run in the background; their files (logs, pids, configs) live in
# ${PSRPC_TOPOLOGY_DIR:-/tmp/psrpc-topology}/<name>. The psrpc-test-support
# launchers (psrpc_test_support::topology) start the same shapes on free ports.
set -euo pipefail

action=${1:-}
name=${2:-}
root=${PSRPC_TOPOLOGY_DIR:-/tmp/psrpc-topology}
dir=$root/$name
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

start() { # start <port> <command...>: runs in the background, pid in $dir/<port>.pid
  local port=$1; shift
  "$@" >"$dir/$port.log" 2>&1 &
  echo $! >"$dir/$port.pid"
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $port not listening; see $dir/$port.log" >&2
  exit 1
}

redis_data() { # redis_data <port> [extra args]: a Redis node that keeps nothing on disk
  local port=$1; shift
  start "$port" redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --repl-diskless-sync-delay 0 --dir "$dir" "$@"
}

wait_for() { # wait_for <what> <command...>: retries for 30 s
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2
  exit 1
}

up() {
  [ -e "$dir" ] && { echo "$name is already up ($dir); run: $0 down $name" >&2; exit 1; }
  mkdir -p "$dir"
  case $name in
    nats-cluster)
      local routes="nats://127.0.0.1:6231,nats://127.0.0.1:6232,nats://127.0.0.1:6233"
      for i in 0 1 2; do
        start $((4231 + i)) "$nats_server" -a 127.0.0.1 -p $((4231 + i)) -m $((8231 + i)) \
          --cluster_name psrpc --cluster nats://127.0.0.1:$((6231 + i)) --routes "$routes"
      done
      for i in 0 1 2; do
        wait_for "routes of node $i" bash -c "curl -s http://127.0.0.1:$((8231 + i))/routez | grep -q '\"num_routes\": 2'"
      done
      echo "PSRPC_NATS_URL=nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233"
      ;;
    redis-sentinel)
      redis_data 6380
      redis_data 6381 --replicaof 127.0.0.1 6380
      for port in 26379 26380 26381; do
        printf 'bind 127.0.0.1\nport %s\ndir %s\nsentinel monitor psrpc 127.0.0.1 6380 2\n%s\n%s\n' "$port" "$dir" \
          'sentinel down-after-milliseconds psrpc 1000' 'sentinel failover-timeout psrpc 5000' >"$dir/sentinel-$port.conf"
        start "$port" redis-sentinel "$dir/sentinel-$port.conf"
      done
      wait_for "the replica" bash -c "redis-cli -p 6381 INFO replication | grep -q 'master_link_status:up'"
      for port in 26379 26380 26381; do
        wait_for "sentinel $port" bash -c "redis-cli -p $port SENTINEL master psrpc | grep -A1 num-other-sentinels | grep -qx 2"
      done
      echo "PSRPC_REDIS_URL=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381/psrpc"
      ;;
    redis-cluster)
      local nodes=()
      for port in 7000 7001 7002 7003 7004 7005; do
        redis_data $port --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" \
          --cluster-node-timeout 1000 --cluster-replica-validity-factor 0
        nodes+=("127.0.0.1:$port")
      done
      redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
      for port in 7000 7001 7002 7003 7004 7005; do
        wait_for "node $port" bash -c "redis-cli -p $port CLUSTER INFO | grep -q 'cluster_state:ok'"
      done
      echo "PSRPC_REDIS_URL=redis+cluster://$(IFS=,; echo "${nodes[*]}")"
      ;;
    *) usage ;;
  esac
}

down() {
  [ -d "$dir" ] || { echo "$name is not up" >&2; exit 1; }
  for pid in "$dir"/*.pid; do
    [ -e "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

kill_node() {
  local pid=$dir/${3:?port}.pid
  [ -e "$pid" ] || { echo "no node of $name on port $3" >&2; exit 1; }
  kill "$(cat "$pid")"
  rm "$pid"
}

case $action in
  up) up ;;
  down) down ;;
  kill) kill_node "$@" ;;
  *) usage ;;
esac
