"""Produce the seed tutorial's data set to Kafka: the tutorial record (id 0)
plus COUNT-1 articles like it, with deterministic 8-dim vectors.

Run with the venv tests/setup.sh makes (it has confluent-kafka):
  .kmv/venv/bin/python examples/seed/produce.py --count 1000 [--topic topic_0] [--brokers 127.0.0.1:9092]
"""

import argparse
import json
import random
import sys
from pathlib import Path

from confluent_kafka import Producer


def articles(count: int, dim: int):
    tutorial = json.loads(Path(__file__).with_name("records.jsonl").read_text().splitlines()[0])
    yield tutorial
    rng = random.Random(7)
    topics = ["coronavirus", "remote work", "vector search", "kafka", "rust", "python", "data teams"]
    for i in range(1, count):
        topic = topics[i % len(topics)]
        yield {
            "id": i,
            "title": f"Notes on {topic}, part {i}",
            "title_vector": [round(rng.uniform(-0.05, 0.05), 9) for _ in range(dim)],
            "link": f"https://example.com/articles/{i}",
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--topic", default="topic_0")
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--dim", type=int, default=8)
    args = p.parse_args()

    producer = Producer({"bootstrap.servers": args.brokers, "linger.ms": 5})
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))

    for a in articles(args.count, args.dim):
        producer.produce(args.topic, key=str(a["id"]), value=json.dumps(a), on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(30)
    if left or failed:
        print(f"produce.py: {left} records not delivered, {len(failed)} failed: {failed[:3]}", file=sys.stderr)
        return 1
    print(f"produced {args.count} records to {args.topic} on {args.brokers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
