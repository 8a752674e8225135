"""Launcher for the embedded Milvus 2.3.5 server (PyPI package `milvus`), used by milvus.sh.

Run with $KMV_STATE/venv/bin/python. Differences from the package's own `milvus-server` CLI:

* Every port is taken from a block above the proxy port P (P+1, P+2, ... first free ones):
  the nine component ports, the embedded etcd client + peer ports and the metrics/healthz
  port. The stock CLI starts from the fixed defaults (etcd 2379/2380, metrics 9091, ...) and
  scans upward, so a second instance lands on 9092 (the Kafka port) for its metrics, and
  its embedded etcd would still try to listen on 2379/2380 (the etcd listen URLs are not
  configurable from the CLI). Here the etcd listen URLs come from a generated embedEtcd.yaml
  passed through ETCD_CONFIG_PATH, so several instances can run side by side.
* The server refuses to start if the proxy (gRPC + REST) port is not exactly P (the stock
  CLI silently moves to the next free port).
* `--auth` is a flag (the stock `--authorization-enabled X` uses argparse type=bool, so
  `--authorization-enabled false` turns auth ON).
* SIGINT or SIGTERM stop the milvus child (SIGTERM, SIGKILL after 1 s; the data dir is thrown away anyway) and then exit; the
  launcher also exits (code 1) if the milvus child dies on its own, instead of hanging.
* Ports are probed with SO_REUSEADDR (see try_bind_port), so a restart right after a stop
  keeps its ports even while old connections linger in TIME_WAIT.
* The extracted native binaries (~250 MB, ~4.5 s of lzma decompression) are cached in a
  shared directory given by --bin-cache instead of in every fresh data dir.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

import milvus


def log(msg):
    print(f"[_milvus_server] {msg}", flush=True)


def try_bind_port(port):
    """Like MilvusServerConfig.try_bind_port, but with SO_REUSEADDR as the Go server uses it:
    without it a port that still has TIME_WAIT/FIN_WAIT connections from the previous
    instance counts as busy, and a restart right after a stop moves to another port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except (OSError, OverflowError):
        sock.close()
        return None


def can_bind(port):
    sock = try_bind_port(port)
    if sock is None:
        return False
    sock.close()
    return True


def first_free(start, used):
    for port in range(start, min(start + 2000, 65536)):
        if port not in used and can_bind(port):
            return port
    raise RuntimeError(f"no free port found at or above {start}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="base data dir (should be fresh)")
    ap.add_argument("--port", type=int, default=19530, help="proxy gRPC + REST port")
    ap.add_argument("--auth", action="store_true", help="enable authorization (root:Milvus)")
    ap.add_argument("--bin-cache", help="shared dir for the extracted milvus binaries")
    args = ap.parse_args()

    data = os.path.abspath(args.data)
    os.makedirs(data, exist_ok=True)
    if args.bin_cache:
        os.makedirs(args.bin_cache, exist_ok=True)
        link = os.path.join(data, "bin")
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(args.bin_cache), link)

    server = milvus.MilvusServer(wait_for_started=False)
    cfg = server.config
    cfg.try_bind_port = try_bind_port
    server.set_base_dir(data)
    port_keys = [k for k in server.config_keys if k.endswith("_port")]
    for key in port_keys:
        # For the embedded config these are *start* values: resolve() takes the first free port >= value.
        cfg.set(key, args.port + 1)
    cfg.set("proxy_port", args.port)
    cfg.set("authorization_enabled", bool(args.auth))

    info = {}
    orig_resolve = cfg.resolve

    def resolve():
        orig_resolve()
        ports = {k: int(cfg.get(k)) for k in port_keys}
        if ports["proxy_port"] != args.port:
            raise SystemExit(f"port {args.port} is not free (would have used {ports['proxy_port']})")
        used = set(ports.values())
        etcd_client = ports["etcd_port"]
        etcd_peer = first_free(max(used) + 1, used)
        used.add(etcd_peer)
        metrics = first_free(etcd_peer + 1, used)
        etcd_yaml = os.path.join(data, "configs", "embedEtcd.yaml")
        with open(etcd_yaml, "w", encoding="utf-8") as f:
            f.write(
                "name: kmv\n"
                f"listen-client-urls: http://127.0.0.1:{etcd_client}\n"
                f"advertise-client-urls: http://127.0.0.1:{etcd_client}\n"
                f"listen-peer-urls: http://127.0.0.1:{etcd_peer}\n"
                f"initial-advertise-peer-urls: http://127.0.0.1:{etcd_peer}\n"
                f"initial-cluster: kmv=http://127.0.0.1:{etcd_peer}\n"
            )
        # start() copies os.environ for the child after resolve() returns.
        os.environ["ETCD_CONFIG_PATH"] = etcd_yaml
        server.webservice_port = metrics
        info.update(ports)
        info["etcd_peer_port"] = etcd_peer

    cfg.resolve = resolve

    stopping = {"flag": False}

    def on_signal(signum, _frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        server.start()
    except SystemExit as ex:
        log(f"ERROR: {ex}")
        return 1
    info["metrics_port"] = server.webservice_port
    info["milvus_pid"] = server.server_proc.pid
    info["auth"] = bool(args.auth)
    with open(os.path.join(data, "kmv-ports.json"), "w", encoding="utf-8") as f:
        json.dump(info, f)
    log(f"milvus pid {server.server_proc.pid} started, ports {json.dumps(info)}")
    log(f"milvus logs: {os.path.join(data, 'logs')}")

    proc = server.server_proc
    code = 0
    while True:
        if stopping["flag"]:
            break
        rc = proc.poll()
        if rc is not None:
            log(f"ERROR: milvus exited on its own with code {rc}")
            code = 1
            break
        time.sleep(0.1)

    if proc.poll() is None:
        log("stopping milvus")
        proc.terminate()
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    server.server_proc = None
    server.stop()  # closes the log fds
    log(f"milvus stopped (exit code {proc.returncode})")
    return code


if __name__ == "__main__":
    sys.exit(main())
