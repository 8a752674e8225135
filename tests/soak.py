"""A day of load, shortened: kmv-host under a steady stream with a fault every
few minutes, sampled for growth. By hand, not in CI (like the embedding
benchmark):

  .kmv/venv/bin/python tests/soak.py [--minutes 30] [--fault-every 180] [--rate 300]

Starts a broker and a Milvus of its own (ports 9392 and 19590, so it never
touches the test services), builds the release host and the seed transform if
they are missing, creates topic and collection `soak`, and runs
`kmv-host --pipeline` with the seed transform and a dead-letter topic while a
producer sends seed articles at --rate records/s, one in every 500 a poison
record (not JSON) that must be dead-lettered. Faults, in turn, every
--fault-every seconds: Milvus stopped for 30 s and started again with its data
(an outage), the host frozen with SIGSTOP past its session timeout then
resumed (its partitions are taken away and given back: a rebalance), Milvus
restarted at once.

Every --sample-every seconds it prints and records (soak.csv in --out) the
host's RSS and open file descriptors, the consumer lag and the counters from
/metrics. At the end the producer stops, the host catches up and is stopped
with SIGTERM, and the script checks:
  - every record is accounted for: the distinct ids in Milvus plus the
    distinct keys on the dead-letter topic equal the records produced, and
    each poison record is on the dead-letter topic;
  - no growth after warm-up (the first quarter of the run, at least 2 min):
    the RSS's highest sample after it is at most --rss-growth-mib above the
    warm-up's highest, and open descriptors at most --fd-growth above;
  - the host never exited on its own.
Exits 1 when a check fails, printing which.
"""

import argparse
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KAFKA_PORT = 9392
MILVUS_PORT = 19590
TOPIC = "soak"
DLQ = "soak.dlq"
POISON_EVERY = 500


def sh(*args, check=True):
    return subprocess.run([str(a) for a in args], cwd=REPO, check=check)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def say(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Producer(threading.Thread):
    """Seed articles with ids 0, 1, ... at `rate` per second; every
    POISON_EVERY-th id is a poison record."""

    def __init__(self, brokers, rate):
        super().__init__(daemon=True)
        from confluent_kafka import Producer as KafkaProducer

        self.producer = KafkaProducer({"bootstrap.servers": brokers, "linger.ms": 5})
        self.rate = rate
        self.sent = 0
        self.failed = []
        self.stopping = threading.Event()

    def run(self):
        rng = random.Random(7)
        started = time.monotonic()
        while not self.stopping.is_set():
            due = int((time.monotonic() - started) * self.rate)
            while self.sent < due:
                i = self.sent
                if i % POISON_EVERY == POISON_EVERY - 1:
                    value = f"poison {i}: not JSON".encode()
                else:
                    value = json.dumps({
                        "id": i,
                        "title": f"Soak article {i}",
                        "title_vector": [round(rng.uniform(-0.05, 0.05), 6) for _ in range(8)],
                        "link": f"https://example.com/soak/{i}",
                    }).encode()
                while True:
                    try:
                        self.producer.produce(TOPIC, key=str(i), value=value, on_delivery=self.delivered)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                self.sent += 1
            self.producer.poll(0.02)
        if self.producer.flush(60):
            self.failed.append("records left unacknowledged 60 s after the end")

    def delivered(self, err, _msg):
        if err is not None:
            self.failed.append(str(err))

    def stop(self):
        self.stopping.set()
        self.join()
        return self.sent


def metrics(http):
    text = urllib.request.urlopen(f"http://{http}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        base = name.split("{", 1)[0]
        try:
            out[base] = out.get(base, 0.0) + float(value)
        except ValueError:
            pass
    return out


def proc_sample(pid):
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) // 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds


def dead_lettered_keys(brokers):
    """The distinct keys on the dead-letter topic."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": brokers, "group.id": f"soak-dlq-{time.time()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    # Assigned, not subscribed: a group join can outlast the idle wait below.
    c.assign([TopicPartition(DLQ, 0, 0)])
    keys, idle_since = set(), time.monotonic()
    while time.monotonic() - idle_since < 10:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        keys.add(m.key().decode())
        idle_since = time.monotonic()
    c.close()
    return keys


def milvus_ids(uri, n):
    """The distinct ids below `n` in collection `soak`."""
    from pymilvus import Collection, connections

    connections.connect(uri=uri)
    col = Collection(TOPIC)
    ids, step = set(), 10000
    for lo in range(0, n, step):
        rows = col.query(expr=f"id >= {lo} and id < {lo + step}", output_fields=["id"],
                         consistency_level="Strong", limit=16384)
        ids.update(r["id"] for r in rows)
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--fault-every", type=float, default=180, help="seconds between faults")
    ap.add_argument("--rate", type=int, default=300, help="records per second")
    ap.add_argument("--sample-every", type=float, default=10, help="seconds")
    ap.add_argument("--rss-growth-mib", type=int, default=64)
    ap.add_argument("--fd-growth", type=int, default=16)
    ap.add_argument("--out", default=str(REPO / ".kmv" / "soak"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    host_bin = REPO / "target/release/kmv-host"
    seed = REPO / "target/wasm32-wasip2/release/seed.wasm"
    if not host_bin.exists():
        sh("cargo", "build", "--release", "-p", "kmv-host")
    if not seed.exists():
        sh("cargo", "build", "--release", "--target", "wasm32-wasip2", "-p", "seed")

    brokers, uri = f"127.0.0.1:{KAFKA_PORT}", f"http://127.0.0.1:{MILVUS_PORT}"
    kafka = ["tests/services/kafka.sh"]
    milvus = ["tests/services/milvus.sh"]
    sh(*kafka, "start", "--port", KAFKA_PORT)
    sh(*milvus, "start", "--port", MILVUS_PORT)
    host = None
    try:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": brokers})
        for f in admin.create_topics([NewTopic(TOPIC, 3, 1), NewTopic(DLQ, 1, 1)]).values():
            f.result()
        sh(REPO / ".kmv/venv/bin/python", "tests/services/milvus_admin.py", "--uri", uri,
           "create-seed", "--collection", TOPIC, "--drop")

        http = f"127.0.0.1:{free_port()}"
        pipeline = out / "pipeline.toml"
        pipeline.write_text(f"""
[source]
brokers = "{brokers}"
topics = ["{TOPIC}"]
group_id = "soak"
start_from = "earliest"

[source.properties]
"session.timeout.ms" = "6000"

[transform]
module = "{seed}"

[sink]
endpoint = "{uri}"
collection = "{TOPIC}"

[errors]
policy = "dead_letter"
dead_letter_topic = "{DLQ}"
""")
        log = open(out / "host.log", "w")
        host = subprocess.Popen([str(host_bin), "--pipeline", str(pipeline), "--http-address", http,
                                 "--progress-interval", "30"], stdout=log, stderr=subprocess.STDOUT)
        producer = Producer(brokers, args.rate)
        producer.start()
        say(f"host pid {host.pid}, metrics at http://{http}/metrics, {args.rate} records/s, "
            f"a fault every {args.fault_every:.0f} s for {args.minutes:g} min; samples in {out}/soak.csv")

        faults = [
            ("Milvus stopped for 30 s", lambda: (sh(*milvus, "stop", "--port", MILVUS_PORT, "--keep-data"),
                                                time.sleep(30),
                                                sh(*milvus, "start", "--port", MILVUS_PORT, "--keep-data",
                                                   "--wait-collection", TOPIC))),
            ("host frozen 15 s (SIGSTOP): a rebalance", lambda: (host.send_signal(signal.SIGSTOP),
                                                                 time.sleep(15),
                                                                 host.send_signal(signal.SIGCONT))),
            ("Milvus restarted", lambda: (sh(*milvus, "stop", "--port", MILVUS_PORT, "--keep-data"),
                                          sh(*milvus, "start", "--port", MILVUS_PORT, "--keep-data",
                                             "--wait-collection", TOPIC))),
        ]
        fields = ["t_s", "rss_mib", "fds", "lag", "in_flight_bytes", "records_in", "rows_written",
                  "failed", "dead_lettered", "retries", "produced", "fault"]
        samples = []
        with open(out / "soak.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(fields)
            started = time.monotonic()
            end = started + args.minutes * 60
            next_fault, fault_n, fault_name = started + args.fault_every, 0, ""
            while time.monotonic() < end:
                time.sleep(args.sample_every)
                if host.poll() is not None:
                    raise SystemExit(f"FAILED: the host exited on its own (code {host.returncode}); see {out}/host.log")
                if time.monotonic() >= next_fault:
                    fault_name, run = faults[fault_n % len(faults)]
                    say(f"fault {fault_n + 1}: {fault_name}")
                    threading.Thread(target=run, daemon=True).start()
                    fault_n += 1
                    next_fault += args.fault_every
                rss, fds = proc_sample(host.pid)
                try:
                    m = metrics(http)
                except OSError:
                    m = {}  # frozen host
                row = [round(time.monotonic() - started), rss, fds, m.get("kmv_consumer_lag_records", ""),
                       m.get("kmv_in_flight_bytes", ""), m.get("kmv_records_consumed_total", ""),
                       m.get("kmv_rows_written_total", ""), m.get("kmv_records_failed_total", ""),
                       m.get("kmv_records_dead_lettered_total", ""), m.get("kmv_write_retries_total", ""),
                       producer.sent, fault_name]
                w.writerow(row)
                f.flush()
                samples.append(dict(zip(fields, row)))
                say("  ".join(f"{k}={v}" for k, v in zip(fields, row) if k != "fault"))
                fault_name = ""

        produced = producer.stop()
        if producer.failed:
            raise SystemExit(f"FAILED: the producer: {producer.failed[:3]}")
        poison = {str(i) for i in range(produced) if i % POISON_EVERY == POISON_EVERY - 1}
        good = produced - len(poison)
        say(f"produced {produced} ({len(poison)} poison); waiting until the host has caught up")
        # Caught up: every record consumed (replays make it more) and
        # nothing in flight; the lag gauge is not relied on (a broker may
        # not report it).
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            m = metrics(http)
            if m.get("kmv_records_consumed_total", 0) >= produced and m.get("kmv_in_flight_bytes", 1) == 0:
                break
            time.sleep(2)
        time.sleep(5)
        host.send_signal(signal.SIGTERM)
        code = host.wait(60)
        host = None
        written = milvus_ids(uri, produced)
        dead = dead_lettered_keys(brokers)

        warm = max(len(samples) // 4, int(120 / args.sample_every))
        before, after = samples[:warm], samples[warm:]
        problems = []
        if code != 0:
            problems.append(f"the host exited {code} on SIGTERM")
        missing = good - len(written)
        if missing:
            problems.append(f"{missing} good records not in Milvus")
        if not poison <= dead:
            problems.append(f"{len(poison - dead)} poison records not dead-lettered")
        if after:
            rss_growth = max(s["rss_mib"] for s in after) - max(s["rss_mib"] for s in before)
            fd_growth = max(s["fds"] for s in after) - max(s["fds"] for s in before)
            if rss_growth > args.rss_growth_mib:
                problems.append(f"RSS grew {rss_growth} MiB after warm-up (bound {args.rss_growth_mib})")
            if fd_growth > args.fd_growth:
                problems.append(f"open descriptors grew {fd_growth} after warm-up (bound {args.fd_growth})")
        else:
            rss_growth = fd_growth = "n/a (run too short)"
        print()
        print("| what | figure |")
        print("|---|---|")
        print(f"| run | {args.minutes:g} min, {args.rate} records/s, a fault every {args.fault_every:.0f} s |")
        print(f"| produced | {produced} ({len(poison)} poison) |")
        print(f"| in Milvus (distinct ids) + dead-lettered (distinct keys) | {len(written)} + {len(dead)} = {len(written) + len(dead)} |")
        print(f"| RSS MiB: warm-up max / after max / growth | {max(s['rss_mib'] for s in before)} / "
              f"{max((s['rss_mib'] for s in after), default='n/a')} / {rss_growth} |")
        print(f"| open descriptors: warm-up max / after max / growth | {max(s['fds'] for s in before)} / "
              f"{max((s['fds'] for s in after), default='n/a')} / {fd_growth} |")
        print(f"| host exit on SIGTERM | {code} |")
        if problems:
            print("FAILED: " + "; ".join(problems))
            return 1
        print("ok: every record accounted for, no growth beyond the bounds")
        return 0
    finally:
        if host is not None:
            host.send_signal(signal.SIGCONT)
            host.kill()
        sh(*milvus, "stop", "--port", MILVUS_PORT, check=False)
        sh(*kafka, "stop", "--port", KAFKA_PORT, check=False)


if __name__ == "__main__":
    sys.exit(main())
