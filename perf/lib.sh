# Shared by the perf scripts (sourced from the repository root): a free
# loopback port, waiting for a node to answer, and stopping the node whose
# process id is in PID.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT [PATH]: until anything answers HTTP there (20 s at most).
wait_http() {
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$1${2:-/}" && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  return 1
}

# Ends the node in PID (SIGTERM: a clean shutdown) and waits for it.
stop_node() {
  if [ -n "${PID:-}" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
