"""Produce the seed tutorial's articles in the Confluent wire format, serialized by confluent-kafka's
own AvroSerializer, ProtobufSerializer or JSONSerializer, which register the schema with the Schema
Registry (subject TOPIC-value) and frame each value as: a zero byte, the 4-byte schema id, the
encoded value (Protobuf: the message indexes first).

The articles are the tutorial record plus COUNT-1 like it (as examples/seed/produce.py makes them),
or the JSON lines of --input. Schema version 2 (--schema-version 2) adds a field with a default,
`category` (Avro: default "news"), to show schema evolution: kmv-host picks the new schema id up
without a restart and the unchanged seed transform ignores the new field.

Run with the venv tests/setup.sh makes (.kmv/srvenv: confluent-kafka[avro,protobuf,json]):
  .kmv/srvenv/bin/python examples/avro/produce.py --count 1000 [--format avro|protobuf|json_schema]
      [--topic topic_0_avro] [--brokers 127.0.0.1:9092] [--registry http://127.0.0.1:8081]
"""

import argparse
import json
import random
import sys
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer

AVRO_V1 = {
    "type": "record",
    "name": "Article",
    "namespace": "kmv.seed",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "title", "type": "string"},
        {"name": "title_vector", "type": {"type": "array", "items": "float"}},
        {"name": "link", "type": "string"},
    ],
}
AVRO_V2 = dict(AVRO_V1, fields=AVRO_V1["fields"] + [{"name": "category", "type": "string", "default": "news"}])

JSON_V1 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Article",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "title_vector": {"type": "array", "items": {"type": "number"}},
        "link": {"type": "string"},
    },
    "required": ["id", "title", "title_vector", "link"],
}
JSON_V2 = dict(JSON_V1, properties=dict(JSON_V1["properties"], category={"type": "string", "default": "news"}))


def article_class(version):
    """The Protobuf message class kmv.seed.Article (proto3), built from a descriptor: no protoc."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from google.protobuf.message_factory import GetMessageClass

    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name=f"kmv/seed/article_v{version}.proto", package="kmv.seed", syntax="proto3")
    m = fd.message_type.add(name="Article")
    fields = [("id", F.TYPE_INT64, F.LABEL_OPTIONAL), ("title", F.TYPE_STRING, F.LABEL_OPTIONAL),
              ("title_vector", F.TYPE_FLOAT, F.LABEL_REPEATED), ("link", F.TYPE_STRING, F.LABEL_OPTIONAL)]
    if version == 2:
        fields.append(("category", F.TYPE_STRING, F.LABEL_OPTIONAL))
    for number, (name, type_, label) in enumerate(fields, start=1):
        m.field.add(name=name, number=number, type=type_, label=label)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return GetMessageClass(pool.FindMessageTypeByName("kmv.seed.Article"))


def serializer(fmt, version, registry):
    if fmt == "avro":
        from confluent_kafka.schema_registry.avro import AvroSerializer

        schema = AVRO_V2 if version == 2 else AVRO_V1
        return AvroSerializer(registry, json.dumps(schema)), lambda a: a
    if fmt == "json_schema":
        from confluent_kafka.schema_registry.json_schema import JSONSerializer

        schema = JSON_V2 if version == 2 else JSON_V1
        return JSONSerializer(json.dumps(schema), registry), lambda a: a
    if fmt == "protobuf":
        from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

        cls = article_class(version)
        return ProtobufSerializer(cls, registry), lambda a: cls(**a)
    raise SystemExit(f"unknown --format {fmt}")


def articles(count, dim):
    tutorial = json.loads((Path(__file__).parent.parent / "seed/records.jsonl").read_text().splitlines()[0])
    yield tutorial
    rng = random.Random(7)
    topics = ["coronavirus", "remote work", "vector search", "kafka", "rust", "python", "data teams"]
    for i in range(1, count):
        yield {
            "id": i,
            "title": f"Notes on {topics[i % len(topics)]}, part {i}",
            "title_vector": [round(rng.uniform(-0.05, 0.05), 9) for _ in range(dim)],
            "link": f"https://example.com/articles/{i}",
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--input", help="JSON lines of articles to produce instead of the generated ones")
    p.add_argument("--format", default="avro", choices=["avro", "protobuf", "json_schema"])
    p.add_argument("--schema-version", type=int, default=1, choices=[1, 2])
    p.add_argument("--topic", default="topic_0_avro")
    p.add_argument("--brokers", default="127.0.0.1:9092")
    p.add_argument("--registry", default="http://127.0.0.1:8081")
    args = p.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    serialize, shape = serializer(args.format, args.schema_version, registry)
    keys = StringSerializer()
    producer = Producer({"bootstrap.servers": args.brokers, "linger.ms": 5})
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))

    if args.input:
        source = (json.loads(line) for line in Path(args.input).read_text().splitlines() if line.strip())
    else:
        source = articles(args.count, args.dim)
    n = 0
    for a in source:
        if args.schema_version == 2:
            a = dict(a, category="news" if a["id"] % 2 else "science")
        ctx = SerializationContext(args.topic, MessageField.VALUE)
        value = serialize(shape(a), ctx)
        key = keys(str(a["id"]), SerializationContext(args.topic, MessageField.KEY))
        producer.produce(args.topic, key=key, value=value, on_delivery=delivered)
        producer.poll(0)
        n += 1
    left = producer.flush(30)
    if left or failed:
        print(f"produce.py: {left} records not delivered, {len(failed)} failed: {failed[:3]}", file=sys.stderr)
        return 1
    print(f"produced {n} {args.format} records (schema v{args.schema_version}) to {args.topic} on {args.brokers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
