#!/usr/bin/env python3
"""Small admin CLI for the test Milvus (pymilvus 2.3.6, gRPC on the same port as REST).

Run with the venv from tests/services/install.sh:  .kmv/venv/bin/python tests/services/milvus_admin.py ...

Common options (before or after the subcommand):
  --uri URI        default $KMV_MILVUS_URI or http://127.0.0.1:19530
  --token TOKEN    "user:password", e.g. root:Milvus for a server started with --auth
                   (default $KMV_MILVUS_TOKEN or none)

Subcommands:
  create-seed --collection NAME [--dim 8] [--auto-id] [--drop] [--index-type FLAT] [--metric L2]
      The tutorial collection: id Int64 primary key (auto_id per --auto-id), title VarChar(512),
      title_vector FloatVector(dim), link VarChar(512); dynamic fields off; FLAT index with
      metric L2 on title_vector (exact search: deterministic results); loaded.
  create --collection NAME --schema schema.json [--drop] [--no-load]
      Collection from a JSON description (see README.md); every vector field gets an index
      (FLAT/L2 unless the schema says otherwise) and the collection is loaded.
  count --collection NAME [--expect N [--timeout 10]]
      Prints the row count (query count(*), consistency Strong). With --expect, polls until
      the count equals N (exit 1 with the last count on timeout).
  query --collection NAME [--expr EXPR] [--fields a,b] [--limit N]
      Prints matching rows as JSON lines, sorted by primary key (consistency Strong).
      Default expr: all rows (at most 16384); default fields: * (all, incl. vectors and dynamic fields).
  search --collection NAME --vector '[0.1, ...]' [--limit 3] [--field title_vector] [--fields a,b]
      Prints the hits as one JSON array: [{"id":..,"distance":..,"entity":{..}}, ...].
  describe --collection NAME      Prints the schema, indexes and row count as JSON.
  list                            Prints the collection names, one per line.
  drop --collection NAME          Drops the collection (no error if missing).

Exit codes: 0 ok, 1 error (message on stderr), 2 usage error.
"""

import argparse
import json
import os
import sys
import time


def die(msg, code=1):
    print(f"milvus_admin: error: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    from pymilvus import (
        Collection,
        CollectionSchema,
        DataType,
        FieldSchema,
        MilvusException,
        connections,
        utility,
    )
except ImportError as ex:  # pragma: no cover
    die(f"cannot import pymilvus ({ex}); run with .kmv/venv/bin/python after tests/services/install.sh")

_DTYPES = {m.name.replace("_", "").lower(): m for m in DataType}


def dtype(name):
    key = str(name).replace("_", "").lower()
    if key not in _DTYPES:
        die(f"unknown field type '{name}' (known: {', '.join(sorted(m.name for m in DataType))})", 2)
    return _DTYPES[key]


VECTOR_TYPES = {DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR}
for _extra in ("FLOAT16_VECTOR", "BFLOAT16_VECTOR", "SPARSE_FLOAT_VECTOR"):
    if hasattr(DataType, _extra):
        VECTOR_TYPES.add(getattr(DataType, _extra))


def to_json(obj):
    """json.dumps default= for numpy scalars/arrays and bytes."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    return str(obj)


def dumps(obj):
    return json.dumps(obj, default=to_json, ensure_ascii=False)


def connect(args):
    kwargs = {"uri": args.uri, "timeout": 30}
    if args.token:
        kwargs["token"] = args.token
    try:
        connections.connect(alias="default", **kwargs)
    except MilvusException as ex:
        die(f"cannot connect to {args.uri}: {ex}")
    except Exception as ex:  # grpc timeouts surface as various types
        die(f"cannot connect to {args.uri}: {type(ex).__name__}: {ex}")


def open_collection(name, load=True):
    if not utility.has_collection(name):
        die(f"collection '{name}' does not exist")
    col = Collection(name)
    if load:
        col.load()
    return col


def prepare_new(name, drop):
    if utility.has_collection(name):
        if not drop:
            die(f"collection '{name}' already exists (use --drop to recreate it)")
        utility.drop_collection(name)


def index_and_load(col, indexes, load=True):
    for idx in indexes:
        params = {
            "index_type": idx.get("index_type", "FLAT"),
            "metric_type": idx.get("metric_type", "L2"),
            "params": idx.get("params", {}),
        }
        col.create_index(field_name=idx["field"], index_params=params)
    if load:
        col.load()


# ---------------------------------------------------------------- subcommands


def cmd_create_seed(args):
    prepare_new(args.collection, args.drop)
    fields = [
        FieldSchema("id", DataType.INT64, is_primary=True, auto_id=args.auto_id),
        FieldSchema("title", DataType.VARCHAR, max_length=512),
        FieldSchema("title_vector", DataType.FLOAT_VECTOR, dim=args.dim),
        FieldSchema("link", DataType.VARCHAR, max_length=512),
    ]
    schema = CollectionSchema(fields, description="kmv seed collection", enable_dynamic_field=False)
    col = Collection(args.collection, schema=schema, consistency_level="Strong")
    index_and_load(col, [{"field": "title_vector", "index_type": args.index_type, "metric_type": args.metric}])
    print(f"created collection {args.collection} (dim {args.dim}, auto_id {args.auto_id}, "
          f"{args.index_type}/{args.metric}, loaded)")


def field_from_json(f):
    if "name" not in f or "type" not in f:
        die(f"every field needs 'name' and 'type': {f}", 2)
    kwargs = dict(f.get("params", {}))
    for k in ("max_length", "dim", "max_capacity"):
        if k in f:
            kwargs[k] = f[k]
    if "element_type" in kwargs:
        kwargs["element_type"] = dtype(kwargs["element_type"])
    if f.get("primary") or f.get("is_primary"):
        kwargs["is_primary"] = True
        kwargs["auto_id"] = bool(f.get("auto_id", False))
    if f.get("partition_key") or f.get("is_partition_key"):
        kwargs["is_partition_key"] = True
    if "description" in f:
        kwargs["description"] = f["description"]
    return FieldSchema(f["name"], dtype(f["type"]), **kwargs)


def cmd_create(args):
    try:
        with open(args.schema, encoding="utf-8") as fh:
            spec = json.load(fh)
    except (OSError, ValueError) as ex:
        die(f"cannot read schema file {args.schema}: {ex}", 2)
    fields = [field_from_json(f) for f in spec.get("fields", [])]
    if not any(getattr(f, "is_primary", False) for f in fields):
        die("schema has no primary field (set \"primary\": true on one field)", 2)
    if spec.get("auto_id") is not None:
        for f in fields:
            if f.is_primary:
                f.auto_id = bool(spec["auto_id"])
    prepare_new(args.collection, args.drop)
    schema = CollectionSchema(
        fields,
        description=spec.get("description", ""),
        enable_dynamic_field=bool(spec.get("enable_dynamic_field", False)),
    )
    col = Collection(args.collection, schema=schema, consistency_level="Strong")
    indexes = spec.get("indexes")
    if indexes is None:
        indexes = [{"field": f.name} for f in fields if f.dtype in VECTOR_TYPES]
        for idx in indexes:
            if next(f for f in fields if f.name == idx["field"]).dtype == DataType.BINARY_VECTOR:
                idx.update(index_type="BIN_FLAT", metric_type="HAMMING")
    index_and_load(col, indexes, load=not args.no_load)
    print(f"created collection {args.collection} ({len(fields)} fields, dynamic "
          f"{schema.enable_dynamic_field}, indexes {[i['field'] for i in indexes]}"
          f"{'' if args.no_load else ', loaded'})")


def count_rows(col):
    res = col.query(expr="", output_fields=["count(*)"], consistency_level="Strong")
    return int(res[0]["count(*)"])


def cmd_count(args):
    col = open_collection(args.collection)
    n = count_rows(col)
    if args.expect is not None:
        deadline = time.monotonic() + args.timeout
        while n != args.expect and time.monotonic() < deadline:
            time.sleep(0.2)
            n = count_rows(col)
        print(n)
        if n != args.expect:
            die(f"count is {n}, expected {args.expect} (waited {args.timeout} s)")
        return
    print(n)


def f32(x):
    """Shortest repr that round-trips through float32 (0.1, not 0.10000000149011612)."""
    import numpy as np  # pymilvus depends on numpy

    return float(str(np.float32(x)))


def normalize_row(col, row):
    row = dict(row)
    for f in col.schema.fields:
        v = row.get(f.name)
        if v is None:
            continue
        if f.dtype == DataType.FLOAT_VECTOR:
            row[f.name] = [f32(x) for x in v]
        elif f.dtype == DataType.FLOAT:
            row[f.name] = f32(v)
    return row


def pk_name(col):
    return next(f.name for f in col.schema.fields if f.is_primary)


def split_fields(s):
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def cmd_query(args):
    col = open_collection(args.collection)
    pk = pk_name(col)
    expr = args.expr
    kwargs = {}
    if args.limit is not None:
        kwargs["limit"] = args.limit
    elif not expr:
        kwargs["limit"] = 16384  # an empty expr needs a limit; 16384 is Milvus' max query window
    fields = split_fields(args.fields) or ["*"]
    rows = col.query(expr=expr, output_fields=fields, consistency_level="Strong", **kwargs)
    rows.sort(key=lambda r: r.get(pk))
    for r in rows:
        print(dumps(normalize_row(col, r)))


def cmd_search(args):
    col = open_collection(args.collection)
    try:
        vec = json.loads(args.vector)
    except ValueError as ex:
        die(f"--vector is not JSON: {ex}", 2)
    vfields = [f for f in col.schema.fields if f.dtype in VECTOR_TYPES]
    if not vfields:
        die(f"collection {args.collection} has no vector field")
    field = args.field or vfields[0].name
    metric = "L2"
    for idx in col.indexes:
        if idx.field_name == field:
            metric = idx.params.get("metric_type", metric)
    out = split_fields(args.fields)
    if out is None:
        out = [f.name for f in col.schema.fields if f.dtype not in VECTOR_TYPES]
    res = col.search(
        data=[vec],
        anns_field=field,
        param={"metric_type": metric, "params": {}},
        limit=args.limit,
        output_fields=out,
        consistency_level="Strong",
    )
    hits = []
    for hit in res[0]:
        entity = normalize_row(col, {k: hit.entity.get(k) for k in out})
        hits.append({"id": hit.id, "distance": f32(hit.distance), "entity": entity})
    print(dumps(hits))


def cmd_describe(args):
    col = open_collection(args.collection, load=False)
    info = {
        "name": col.name,
        "schema": col.schema.to_dict(),
        "indexes": [{"field": i.field_name, "params": i.params} for i in col.indexes],
    }
    print(dumps(info))


def cmd_list(_args):
    for name in sorted(utility.list_collections()):
        print(name)


def cmd_drop(args):
    if utility.has_collection(args.collection):
        utility.drop_collection(args.collection)
        print(f"dropped {args.collection}")
    else:
        print(f"{args.collection} does not exist")


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--uri", default=argparse.SUPPRESS)
    common.add_argument("--token", default=argparse.SUPPRESS)

    ap = argparse.ArgumentParser(
        prog="milvus_admin.py", parents=[common],
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn):
        p = sub.add_parser(name, parents=[common])
        p.set_defaults(fn=fn)
        return p

    p = add("create-seed", cmd_create_seed)
    p.add_argument("--collection", required=True)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--auto-id", action="store_true")
    p.add_argument("--drop", action="store_true", help="drop the collection first if it exists")
    p.add_argument("--index-type", default="FLAT")
    p.add_argument("--metric", default="L2")

    p = add("create", cmd_create)
    p.add_argument("--collection", required=True)
    p.add_argument("--schema", required=True, help="JSON file, see README.md")
    p.add_argument("--drop", action="store_true")
    p.add_argument("--no-load", action="store_true")

    p = add("count", cmd_count)
    p.add_argument("--collection", required=True)
    p.add_argument("--expect", type=int)
    p.add_argument("--timeout", type=float, default=10.0)

    p = add("query", cmd_query)
    p.add_argument("--collection", required=True)
    p.add_argument("--expr", default="")
    p.add_argument("--fields", default="")
    p.add_argument("--limit", type=int)

    p = add("search", cmd_search)
    p.add_argument("--collection", required=True)
    p.add_argument("--vector", required=True)
    p.add_argument("--limit", type=int, default=3)
    p.add_argument("--field")
    p.add_argument("--fields", default=None)

    p = add("describe", cmd_describe)
    p.add_argument("--collection", required=True)

    add("list", cmd_list)

    p = add("drop", cmd_drop)
    p.add_argument("--collection", required=True)

    args = ap.parse_args(argv)
    if not hasattr(args, "uri"):
        args.uri = os.environ.get("KMV_MILVUS_URI", "http://127.0.0.1:19530")
    if not hasattr(args, "token"):
        args.token = os.environ.get("KMV_MILVUS_TOKEN") or None

    connect(args)
    try:
        args.fn(args)
    except MilvusException as ex:
        die(f"{args.cmd} failed: {ex}")
    finally:
        try:
            connections.disconnect("default")
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    main()
