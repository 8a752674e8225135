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

# The pid in pid file $1 if that process is alive and its command line contains $2;
# nothing otherwise.
kmv_running_pid() {
  local pid
  pid="$(kmv_read_pid "$1")"
  if [[ -n "$pid" ]] && kmv_pid_is "$pid" "$2"; then
    printf '%s' "$pid"
  fi
}

# kmv_parse_args "NAME..." "$@": the command ($1) into `cmd`, then the options. A NAME
# takes a value (`--NAME V` or `--NAME=V` sets the variable NAME, `-` as `_`); a NAME! is a
# flag (`--NAME` sets it to 1). -h/--help prints the usage text (exit 2).
kmv_parse_args() {
  local spec=" $1 " arg name
  shift
  cmd="${1:-}"
  [[ -n "$cmd" ]] || { kmv_usage; exit 2; }
  shift
  while [[ $# -gt 0 ]]; do
    arg="$1"
    name="${arg#--}"
    name="${name%%=*}"
    if [[ "$arg" == -h || "$arg" == --help ]]; then
      kmv_usage
      exit 2
    elif [[ "$arg" == "--$name" && "$spec" == *" $name! "* ]]; then
      printf -v "${name//-/_}" 1
      shift
    elif [[ "$arg" == "--$name="* && "$spec" == *" $name "* ]]; then
      printf -v "${name//-/_}" '%s' "${arg#*=}"
      shift
    elif [[ "$arg" == "--$name" && "$spec" == *" $name "* ]]; then
      [[ $# -ge 2 ]] || kmv_die "$arg needs a value"
      printf -v "${name//-/_}" '%s' "$2"
      shift 2
    else
      kmv_die "unknown argument '$arg'"
    fi
  done
}

# kmv_prepare_start PORT FILE...: before a start, makes $KMV_RUN, removes the stale
# FILE... (pid file, ...) and dies if something else listens on PORT.
kmv_prepare_start() {
  local port="$1"
  shift
  mkdir -p "$KMV_RUN"
  rm -f "$@"
  if kmv_port_open "$port"; then
    kmv_die "port $port is already in use by another process ($(kmv_port_owner "$port")); choose another --port"
  fi
}

# Runs the sourcing script's do_start, do_stop or do_status for command $1
# (the usage text for help).
kmv_service_command() {
  case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    -h|--help|help) kmv_usage; exit 2 ;;
    *) kmv_die "unknown command '$1' (expected start|stop|status)" ;;
  esac
}

# kmv_service_status LABEL PIDFILE PATTERN UP DOWN CHECK...
# Prints "LABEL: not running" and returns 1 unless the process of PIDFILE runs (see
# kmv_running_pid); otherwise runs CHECK... and prints "LABEL: UP" (returns 0) if it
# succeeds, "LABEL: DOWN" (returns 1) if not. {pid} in UP and DOWN is the pid.
kmv_service_status() {
  local label="$1" pidfile="$2" pattern="$3" up="$4" down="$5" pid
  shift 5
  pid="$(kmv_running_pid "$pidfile" "$pattern")"
  if [[ -z "$pid" ]]; then
    echo "$label: not running"
    return 1
  fi
  if "$@"; then
    echo "$label: ${up//\{pid\}/$pid}"
    return 0
  fi
  echo "$label: ${down//\{pid\}/$pid}"
  return 1
}

# kmv_service_stop NAME PIDFILE GRACE PROCESS [PATTERN]
# Stops the process of PIDFILE (if its command line contains PATTERN, default PROCESS):
# SIGTERM, up to GRACE s for it to exit, then SIGKILL. NAME names the service in messages
# ("kafka on port 9092"), PROCESS the program ("tansu"). A no-op if it is not running.
kmv_service_stop() {
  local name="$1" pidfile="$2" grace="$3" process="$4" pattern="${5:-$4}" pid t0
  pid="$(kmv_running_pid "$pidfile" "$pattern")"
  if [[ -z "$pid" ]]; then
    rm -f "$pidfile"
    kmv_log "$name not running"
    return 0
  fi
  t0="$(kmv_now_ms)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! kmv_wait_exit "$pid" "$grace"; then
    kmv_log "$process pid $pid still alive $grace s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    kmv_wait_exit "$pid" 5 || kmv_die "$process pid $pid does not exit even after SIGKILL"
  fi
  rm -f "$pidfile"
  kmv_log "$name stopped in $(( $(kmv_now_ms) - t0 )) ms"
}

# kmv_await_start PID PIDFILE LOGFILE PROCESS TIMEOUT NOT_READY EVERY CHECK...
# After starting PROCESS as PID: runs CHECK... every EVERY s until it succeeds. If the
# process exits first, or TIMEOUT s pass, prints the tail of LOGFILE, stops the process
# (SIGTERM, SIGKILL after 5 s), removes PIDFILE and dies with "PROCESS exited during startup"
# or "PROCESS NOT_READY within TIMEOUTs".
kmv_await_start() {
  local pid="$1" pidfile="$2" logfile="$3" process="$4" timeout="$5" not_ready="$6" every="$7"
  shift 7
  local deadline=$(( $(date +%s) + timeout ))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      kmv_tail_logs "$logfile"
      kmv_die "$process exited during startup (log: $logfile)"
    fi
    if (( $(date +%s) >= deadline )); then
      kmv_tail_logs "$logfile"
      kill -TERM "$pid" 2>/dev/null || true
      kmv_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      kmv_die "$process $not_ready within ${timeout}s"
    fi
    sleep "$every"
  done
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
