# shellcheck shell=bash
# Shared helpers for tests/services/*.sh. Sourced, not executed.
#
# State lives in $KMV_STATE (default: <repo>/.kmv), where <repo> is found from
# this file's own location (tests/services/ -> ../..).

KMV_SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KMV_REPO="$(cd "$KMV_SERVICES_DIR/../.." && pwd)"
KMV_STATE="${KMV_STATE:-$KMV_REPO/.kmv}"
# shellcheck disable=SC2034  # used by the scripts that source this file
KMV_BIN="$KMV_STATE/bin"
# shellcheck disable=SC2034
KMV_VENV="$KMV_STATE/venv"
# shellcheck disable=SC2034
KMV_RUN="$KMV_STATE/run"

kmv_log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
kmv_die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# Milliseconds since epoch (for timings).
kmv_now_ms() { date +%s%3N; }

# True if something accepts TCP connections on 127.0.0.1:$1.
kmv_port_open() {
  local port="$1"
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
}

# Best-effort description of who listens on a port (for error messages).
kmv_port_owner() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:(\(.*\))/\1/p' | head -n1
  fi
}

# True if pid $1 is alive and its command line contains $2.
kmv_pid_is() {
  local pid="$1" needle="$2"
  [[ -n "$pid" && "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# Read a pid file, print the pid or nothing.
kmv_read_pid() {
  local f="$1"
  [[ -f "$f" ]] || return 0
  local pid
  pid="$(tr -dc '0-9' <"$f")"
  printf '%s' "$pid"
}

# Wait up to $2 seconds for pid $1 to exit. Returns 0 if it exited.
kmv_wait_exit() {
  local pid="$1" secs="$2" i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# All live pids in process group $1 (empty if none).
kmv_group_pids() {
  local pgid="$1"
  pgrep -g "$pgid" 2>/dev/null || true
}

kmv_check_port_arg() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then
    kmv_die "invalid port: '$1'"
  fi
}

# Print the last lines of the given log files.
kmv_tail_logs() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

# Print the leading comment block of the running script (its usage text).
kmv_usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2
}
