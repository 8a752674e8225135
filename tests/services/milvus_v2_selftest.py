#!/usr/bin/env python3
"""Self-test of the stand-in Milvus REST v2 server (milvus_v2.py), standard library only.

    python3 tests/services/milvus_v2_selftest.py

Starts the server once per release line (--port 0), creates a collection with every field type the
release knows, writes representative rows, reads them back and checks the rules the stand-in
reproduces; then, on a second server per release, partitions and entities/delete (filters over Int64
and VarChar keys, including keys that need escaping). The last line is "N passed, M failed"; the exit
code is 0 only when nothing failed.
"""

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import urllib.error
import urllib.request

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "milvus_v2.py")
RESULTS = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    if not ok:
        print(f"FAIL {name}: {detail}")


def start(version, *extra):
    # stderr to a pipe of its own too: a server left running must not hold the
    # caller's stderr open (the Rust test reads this script's output to EOF).
    proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--version", version, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    check(f"{version} listening line", line.startswith("listening on 127.0.0.1:"), line)
    return proc, "http://" + line.split()[-1]


def stopped(proc, sig):
    """Sends `sig`; True when the server exits 0 within 10 s. A server that
    does not stop is killed (and the check fails), never waited for forever."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def call(base, path, body=None, headers=None, method="POST", raw_body=None):
    data = raw_body.encode() if raw_body is not None else json.dumps(body or {}).encode()
    req = urllib.request.Request(base + path, data=data if method == "POST" else None, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as ex:
        status, text = ex.code, ex.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def fp16(values):
    return base64.b64encode(b"".join(struct.pack("<e", x) for x in values)).decode()


def bf16(values):
    return base64.b64encode(b"".join(struct.pack("<f", x)[2:] for x in values)).decode()


def schema_for(version):
    v = tuple(int(p) for p in version.split("."))
    fields = [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": "4"}},
        {"fieldName": "bin", "dataType": "BinaryVector", "elementTypeParams": {"dim": "16"}},
        {"fieldName": "f16", "dataType": "Float16Vector", "elementTypeParams": {"dim": "2"}},
        {"fieldName": "bf16", "dataType": "BFloat16Vector", "elementTypeParams": {"dim": "2"}},
        {"fieldName": "sparse", "dataType": "SparseFloatVector"},
        {"fieldName": "b", "dataType": "Bool"}, {"fieldName": "i8", "dataType": "Int8"},
        {"fieldName": "i16", "dataType": "Int16"}, {"fieldName": "i32", "dataType": "Int32"},
        {"fieldName": "f", "dataType": "Float"}, {"fieldName": "d", "dataType": "Double"},
        {"fieldName": "s", "dataType": "VarChar", "elementTypeParams": {"max_length": "8"}},
        {"fieldName": "j", "dataType": "JSON"},
        {"fieldName": "arr", "dataType": "Array", "elementDataType": "Int64",
         "elementTypeParams": {"max_capacity": "3"}},
        {"fieldName": "arrs", "dataType": "Array", "elementDataType": "VarChar",
         "elementTypeParams": {"max_capacity": "2", "max_length": "4"}},
    ]
    if v >= (2, 5):
        fields += [{"fieldName": "geo", "dataType": "Geometry", "nullable": True},
                   {"fieldName": "n", "dataType": "Int32", "nullable": True},
                   {"fieldName": "dflt", "dataType": "Int64", "defaultValue": 5}]
    if v >= (2, 6):
        fields += [{"fieldName": "i8v", "dataType": "Int8Vector", "elementTypeParams": {"dim": "3"}},
                   {"fieldName": "ts", "dataType": "Timestamptz", "nullable": True}]
    schema = {"autoId": False, "enableDynamicField": True, "fields": fields}
    if v >= (3, 0):
        schema["structFields"] = [{"fieldName": "st", "nullable": False}]
    return v, schema


def good_row(v, pk, extra=""):
    """A row as JSON text, so that number spellings (1e-6, 1.0e-6, 1e+16, 2e+20) reach the server as written."""
    cols = [f'"id":{pk}', '"vec":[0.1,0.2,0.3,0.4]', '"bin":"AQI="', f'"f16":"{fp16([0.5, -1.0])}"',
            f'"bf16":"{bf16([1.5, 2.0])}"', '"sparse":{"1":0.5,"7":1.0}', '"b":true', '"i8":-3', '"i16":300',
            '"i32":70000', '"f":0.1', '"d":0.25', '"s":"abc"', '"j":{"x":[1,2]}', '"arr":[1,2]', '"arrs":["ab"]',
            '"dyn_small":1e-6', '"dyn_dot":1.0e-6', '"dyn_big":1e+16', '"dyn_huge":2e+20', '"dyn_obj":{"k":3}',
            '"dyn_null":null', '"dyn_s":"x"']
    if v >= (2, 6):
        cols += ['"i8v":[1,-2,3]', '"ts":"2025-01-02T03:04:05+00:00"']
    if v >= (3, 0):
        cols += ['"st":[{"a":1}]']
    return "{" + ",".join(cols + ([extra] if extra else [])) + "}"


def write(base, action, coll, rows_text, headers=None):
    body = '{"collectionName":"%s","data":[%s]}' % (coll, ",".join(rows_text))
    return call(base, "/v2/vectordb/entities/" + action, raw_body=body,
                headers={"Accept-Type-Allow-Int64": "true", **(headers or {})})


def query(base, coll, flt=None):
    body = {"collectionName": coll, **({"filter": flt} if flt else {})}
    return call(base, "/v2/vectordb/entities/query", body)[1]["data"]


def test_version(version):
    v, schema = schema_for(version)
    proc, base = start(version)
    try:
        st, resp = call(base, "/v2/vectordb/collections/create", {"collectionName": "all", "schema": schema})
        check(f"{version} create", resp == {"code": 0, "data": {}}, resp)
        st, d = call(base, "/v2/vectordb/collections/describe", {"collectionName": "all"})
        data = d["data"]
        byname = {f["name"]: f for f in data["fields"]}
        check(f"{version} describe code/message", d["code"] == 0 and d["message"] == "", d)
        check(f"{version} describe types", byname["vec"]["type"] == "FloatVector" and byname["j"]["type"] == "JSON"
              and byname["arr"]["elementType"] == "Int64", byname)
        check(f"{version} describe params", byname["vec"]["params"] == [{"key": "dim", "value": "4"}], byname["vec"])
        check(f"{version} describe load", data["load"] == "LoadStateLoaded" and data["autoId"] is False, data)
        check(f"{version} nullable key only 2.5+", ("nullable" in byname["id"]) == (v >= (2, 5)), byname["id"])
        check(f"{version} functions key only 2.5+", ("functions" in data) == (v >= (2, 5)), sorted(data))
        check(f"{version} structFields only 3.0", ("structFields" in data) == (v >= (3, 0)), sorted(data))
        if v >= (2, 5):
            check(f"{version} defaultValue shape", byname["dflt"]["defaultValue"] == {"Data": {"LongData": 5}},
                  byname["dflt"])
        if v >= (3, 0):
            check("3.0 struct field", data["structFields"][0]["type"] == "ArrayOfStruct", data["structFields"])

        st, resp = write(base, "insert", "all", [good_row(v, 1)])
        check(f"{version} insert ok", resp == {"code": 0, "cost": 0, "data": {"insertCount": 1, "insertIds": [1]}},
              resp)
        st, resp = write(base, "insert", "all", [good_row(v, 2)], {"Accept-Type-Allow-Int64": "false"})
        check(f"{version} ids as strings", resp.get("data", {}).get("insertIds") == ["2"], resp)
        row = query(base, "all", "id in [1]")[0]
        expect = {"vec": [0.1, 0.2, 0.3, 0.4], "bin": [1, 2], "f16": [0.5, -1.0], "bf16": [1.5, 2.0],
                  "sparse": {"1": 0.5, "7": 1.0}, "b": True, "i8": -3, "i16": 300, "i32": 70000, "f": 0.1,
                  "d": 0.25, "s": "abc", "j": {"x": [1, 2]}, "arr": [1, 2], "arrs": ["ab"],
                  "dyn_small": 0, "dyn_dot": 1e-06, "dyn_big": 10000000000000000, "dyn_huge": 0,
                  "dyn_obj": {"k": 3}, "dyn_s": "x"}
        if v >= (2, 5):
            expect.update(geo=None, n=None, dflt=5)
        if v >= (2, 6):
            expect.update(i8v=[1, -2, 3], ts="2025-01-02T03:04:05+00:00")
        for key, want in expect.items():
            check(f"{version} stored {key}", row.get(key) == want and type(row.get(key)) is type(want),
                  f"{row.get(key)!r} != {want!r}")
        check(f"{version} dynamic null skipped", "dyn_null" not in row, row)

        st, resp = write(base, "insert", "all", [good_row(v, 3).replace(f'"f16":"{fp16([0.5, -1.0])}"',
                                                                        '"f16":[0.5,-1.0]')])
        if v < (2, 5):
            check("2.4 fp16 list -> 1804", resp.get("code") == 1804, resp)
        else:
            check(f"{version} fp16 list accepted", resp.get("code") == 0, resp)
            check(f"{version} fp16 list stored", query(base, "all", "id == 3")[0]["f16"] == [0.5, -1.0])

        def expect_code(name, code, rows, action="insert", coll="all", headers=None):
            status, resp = write(base, action, coll, rows, headers)
            check(f"{version} {name} -> {code}", resp.get("code") == code, resp)
            return resp

        expect_code("missing vector", 1804, [good_row(v, 4).replace('"vec":[0.1,0.2,0.3,0.4],', "")])
        expect_code("wrong dim", 1804, [good_row(v, 4).replace("[0.1,0.2,0.3,0.4]", "[0.1,0.2]")])
        expect_code("missing Int64", 1804, [good_row(v, 4).replace('"i32":70000,', "")])
        expect_code("varchar too long", 1100, [good_row(v, 4).replace('"s":"abc"', '"s":"abcdefghi"')])
        expect_code("array over capacity", 1100, [good_row(v, 4).replace('"arr":[1,2]', '"arr":[1,2,3,4]')])
        expect_code("sparse negative (in CreateSparseFloatRowFromJSON)", 1804,
                    [good_row(v, 4).replace('"7":1.0', '"7":-1.0')])
        expect_code("$meta key", 1804, [good_row(v, 4, '"$meta":{}')])
        expect_code("bad row batch rejected whole", 1804, [good_row(v, 5), good_row(v, 6).replace('"b":true,', "")])
        check(f"{version} nothing stored from a rejected batch", query(base, "all", "id in [5, 6]") == [])
        expect_code("Int8 wraps like cast", 0, [good_row(v, 7).replace('"i8":-3', '"i8":200')])
        check(f"{version} Int8 200 stored as -56", query(base, "all", "id == 7")[0]["i8"] == -56)
        expect_code("unknown collection", 100, [good_row(v, 8)], coll="nope")
        dup = [good_row(v, 9), good_row(v, 9)]
        expect_code("upsert duplicate pk", 1100 if v >= (2, 6) else 0, dup, action="upsert")
        expect_code("upsert replaces", 0, [good_row(v, 1).replace('"s":"abc"', '"s":"new"')], action="upsert")
        rows = query(base, "all", "id == 1")
        check(f"{version} upsert replaced row", len(rows) == 1 and rows[0]["s"] == "new", rows)
        if v >= (2, 6):
            expect_code("Int8Vector out of range", 1804, [good_row(v, 10).replace("[1,-2,3]", "[1,-2,300]")])
            expect_code("bad Timestamptz", 1100, [good_row(v, 10).replace("2025-01-02T03:04:05+00:00", "yesterday")])
        if v >= (3, 0):
            expect_code("missing struct field", 1804, [good_row(v, 11).replace(',"st":[{"a":1}]', "")])
            expect_code("Request-Timeout not digits", 1100, [good_row(v, 11)], headers={"Request-Timeout": "5s"})
        else:
            expect_code("Request-Timeout ignored", 0, [good_row(v, 11)], headers={"Request-Timeout": "5s"})

        auto = {"autoId": True, "enableDynamicField": False, "fields": [
            {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}}]}
        if v >= (2, 5):
            auto["fields"].append({"fieldName": "bm", "dataType": "SparseFloatVector", "isFunctionOutput": True})
        call(base, "/v2/vectordb/collections/create",
             {"collectionName": "auto", "schema": auto, "load": False,
              "properties": [{"key": "allow_insert_auto_id", "value": "true"}]})
        d = call(base, "/v2/vectordb/collections/describe", {"collectionName": "auto"})[1]["data"]
        check(f"{version} not loaded", d["load"] == "LoadStateNotLoad" and d["autoId"] is True, d)
        resp = expect_code("auto-id insert", 0, ['{"v":[1,2]}', '{"v":[3,4]}'], coll="auto")
        ids = resp.get("data", {}).get("insertIds", [])
        check(f"{version} auto ids increase", len(ids) == 2 and ids[0] < ids[1] and ids[0] > 2 ** 53, ids)
        expect_code("pk on auto-id", 0 if v >= (2, 6) else 1804, ['{"pk":5,"v":[1,2]}'], coll="auto")
        expect_code("upsert auto-id without pk", 1804, ['{"v":[1,2]}'], action="upsert", coll="auto")
        expect_code("extra key without dynamic", 1804, ['{"v":[1,2],"x":1}'], coll="auto")
        if v >= (2, 5):
            expect_code("function output provided", 1804, ['{"v":[1,2],"bm":{"1":0.5}}'], coll="auto")

        st, resp = call(base, "/v2/vectordb/entities/delete", {"collectionName": "all", "filter": "id in [1, 2]"})
        check(f"{version} delete", resp.get("code") == 0 and query(base, "all", "id in [1,2]") == [], resp)
        st, resp = call(base, "/v2/vectordb/nope", {})
        check(f"{version} 404", st == 404 and resp == "404 page not found", (st, resp))
        st, resp = call(base, "/v2/vectordb/collections/list", method="GET")
        check(f"{version} GET -> 404", st == 404, st)
        st, resp = call(base, "/v2/vectordb/collections/list", {})
        check(f"{version} list", sorted(resp.get("data", [])) == ["all", "auto"], resp)
    finally:
        check(f"{version} SIGTERM exit 0", stopped(proc, signal.SIGTERM))


# VarChar keys that need escaping inside a filter string literal (the set probed on a real Milvus 2.3.5)
ODD_KEYS = ['a"b', "a\\b", "it's", "line1\nline2", "tab\there", "cr\rx", "ctl\x01x", "bs\x08x", "del\x7fx", "héllo",
            "日本語", "emoji😀", "ls\u2028x", "x\\'y", 'x\\"y', "lit\\u0041", "q?", " sp ", "", "back\\"]


def literal(key):
    """A filter string literal the way kmv-host writes it: the key's JSON encoding (serde_json escaping)."""
    return json.dumps(key, ensure_ascii=False)


def test_delete_and_partitions(version):
    v = tuple(int(p) for p in version.split("."))
    proc, base = start(version)
    plain = 1100 if v >= (2, 6) else 65535  # errors.New up to 2.5, WrapErrParameterInvalidMsg from 2.6

    def post(path, body):
        return call(base, "/v2/vectordb/" + path, body, {"Accept-Type-Allow-Int64": "true"})[1]

    def code(name, want, resp):
        check(f"{version} {name} -> {want}", resp.get("code") == want, resp)
        return resp

    def delete(coll, flt=None, **extra):
        return post("entities/delete", {"collectionName": coll, **({} if flt is None else {"filter": flt}), **extra})

    def partition(action, coll, name=None):
        return post("partitions/" + action, {"collectionName": coll, **({"partitionName": name} if name else {})})

    def ids(coll, flt=None, parts=None):
        body = {"collectionName": coll, **({"filter": flt} if flt else {})}
        resp = post("entities/query", {**body, **({"partitionNames": parts} if parts else {})})
        return sorted(r["id"] for r in resp["data"]) if resp.get("code") == 0 else resp

    vec = {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": "2"}}
    for name, pk in (("ints", {"fieldName": "id", "dataType": "Int64", "isPrimary": True}),
                     ("strs", {"fieldName": "id", "dataType": "VarChar", "isPrimary": True,
                               "elementTypeParams": {"max_length": "64"}})):
        post("collections/create", {"collectionName": name,
                                    "schema": {"fields": [pk, vec], "enableDynamicField": True}})
    post("collections/create", {"collectionName": "keyed", "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "k", "dataType": "Int64", "isPartitionKey": True}, vec]}})
    try:
        # partitions/create, list, has
        check(f"{version} partition create", partition("create", "ints", "p1") == {"code": 0, "data": {}})
        code("partition create again (no-op)", 0, partition("create", "ints", "p1"))
        code("partition create bad name", plain, partition("create", "ints", "-p"))
        code("partition create on partition key", plain, partition("create", "keyed", "p1"))
        code("partition create without name", 1802, partition("create", "ints"))
        check(f"{version} partition list", partition("list", "ints") == {"code": 0, "data": ["_default", "p1"]})
        check(f"{version} partition list keyed", len(partition("list", "keyed")["data"]) == 16)
        check(f"{version} partition has", partition("has", "ints", "p1") == {"code": 0, "data": {"has": True}})
        check(f"{version} partition has not", partition("has", "ints", "x")["data"] == {"has": False})
        d = post("collections/describe", {"collectionName": "ints"})["data"]
        check(f"{version} describe partitionsNum", d["partitionsNum"] == 2, d["partitionsNum"])

        # insert / upsert honour partitionName
        rows = lambda *keys: [{"id": k, "v": [0.5, 0.5]} for k in keys]
        code("insert into p1", 0, post("entities/insert", {"collectionName": "ints", "partitionName": "p1",
                                                           "data": rows(1, 2)}))
        code("insert into _default", 0, post("entities/insert", {"collectionName": "ints", "data": rows(3)}))
        resp = code("insert into unknown partition", 200, post("entities/insert", {
            "collectionName": "ints", "partitionName": "nope", "data": rows(4)}))
        check(f"{version} partition not found text", resp.get("message") == "partition not found[partition=nope]", resp)
        code("insert bad partition name", plain, post("entities/insert", {"collectionName": "ints",
                                                                          "partitionName": "a b", "data": rows(4)}))
        code("insert bad row before partition check", 1804, post("entities/insert", {
            "collectionName": "ints", "partitionName": "nope", "data": [{"id": 4}]}))
        code("insert partitionName on partition key", plain, post("entities/insert", {
            "collectionName": "keyed", "partitionName": "_default_0", "data": [{"id": 1, "k": 1, "v": [1, 2]}]}))
        code("insert keyed without partitionName", 0, post("entities/insert", {
            "collectionName": "keyed", "data": [{"id": 1, "k": 1, "v": [1, 2]}]}))
        check(f"{version} nothing stored by refused inserts", ids("ints") == [1, 2, 3], ids("ints"))
        check(f"{version} query partitionNames p1", ids("ints", parts=["p1"]) == [1, 2], ids("ints", parts=["p1"]))
        check(f"{version} query partitionNames _default", ids("ints", parts=["_default"]) == [3])
        code("query unknown partition", 200, ids("ints", parts=["nope"]))
        code("query partitionNames on partition key", 1100, ids("keyed", parts=["_default_0"]))
        code("upsert without partitionName", 0, post("entities/upsert", {"collectionName": "ints", "data": rows(1)}))
        check(f"{version} upsert replaces in _default only", ids("ints", "id == 1") == [1, 1], ids("ints", "id == 1"))
        code("upsert into p1", 0, post("entities/upsert", {"collectionName": "ints", "partitionName": "p1",
                                                          "data": [{"id": 2, "v": [9, 9]}]}))
        got = post("entities/query", {"collectionName": "ints", "filter": "id == 2"})["data"]
        check(f"{version} upsert replaced the p1 row", [r["v"] for r in got] == [[9.0, 9.0]], got)
        code("upsert into unknown partition", 200, post("entities/upsert", {"collectionName": "ints",
                                                                          "partitionName": "nope", "data": rows(5)}))
        code("upsert duplicates into unknown partition", 1100 if v >= (2, 6) else 200, post("entities/upsert", {
            "collectionName": "ints", "partitionName": "nope", "data": rows(5, 5)}))
        code("upsert partitionName on partition key", plain, post("entities/upsert", {
            "collectionName": "keyed", "partitionName": "_default_0", "data": [{"id": 1, "k": 1, "v": [1, 2]}]}))

        # entities/delete
        code("delete without filter", 1802, delete("ints"))
        code("delete empty filter", 1802, delete("ints", ""))
        code("delete filter not a string", 1801, delete("ints", 5))
        code("delete blank filter (always true)", 1100, delete("ints", " "))
        code("delete unknown collection", 100, delete("nope", "id in [1]"))
        code("delete unknown partition", 200, delete("ints", "id in [1]", partitionName="nope"))
        code("delete bad filter before partition", 1100, delete("ints", "id in [1", partitionName="nope"))
        code("delete partitionName on partition key", plain, delete("keyed", "id in [1]", partitionName="_default_0"))
        resp = delete("ints", "id in [1, 1, 99]", partitionName="p1")
        check(f"{version} delete answer counts keys listed", resp == {"code": 0, "data": {"deleteCount": 3}}, resp)
        check(f"{version} delete in p1 only", ids("ints", "id in [1]") == [1] and ids("ints", parts=["p1"]) == [2])
        check(f"{version} delete everywhere", delete("ints", "id == 1") == {"code": 0, "data": {"deleteCount": 1}}
              and ids("ints") == [2, 3], ids("ints"))
        check(f"{version} delete empty list", delete("ints", "id in []") == {"code": 0, "data": {"deleteCount": 0}})
        code("delete keyed by key", 0, delete("keyed", "id in [1]"))
        check(f"{version} keyed row deleted", ids("keyed") == [])
        for flt in ('id in ["2"]', "id in [2.0]", "id in [-9223372036854775808]", "id > 1", "nope in [1]", "v in [1]"):
            code(f"delete Int64 filter {flt!r}", 1100, delete("ints", flt))
        big = 9223372036854775807
        post("entities/insert", {"collectionName": "ints", "data": rows(big, -big, -big - 1)})
        code("delete Int64 extremes", 0, delete("ints", f"id in [{big}, -{big}, -{big}-1, 0x2]"))
        check(f"{version} Int64 extremes and hex gone", ids("ints") == [3], ids("ints"))

        # VarChar keys: the JSON encoding of each key is a filter literal that reads back exactly
        code("insert odd VarChar keys", 0, post("entities/insert", {"collectionName": "strs", "data": rows(*ODD_KEYS)}))
        for key in ODD_KEYS:
            got = ids("strs", f"id in [{literal(key)}]")
            check(f"{version} query VarChar key {key!r}", got == [key], got)
        code("VarChar filter with a number", 1100, delete("strs", "id in [1]"))
        code("VarChar literal \\/", 1100, delete("strs", 'id in ["a\\/b"]'))
        code("VarChar literal with a surrogate pair", 1100, delete("strs", "id in [%s]" % json.dumps("emoji😀")))
        code("VarChar literal with a raw newline", 1100, delete("strs", 'id in ["line1\nline2"]'))
        check(f"{version} refused filters deleted nothing", len(ids("strs")) == len(ODD_KEYS))
        flt = "id in [" + ", ".join(literal(k) for k in ODD_KEYS) + "]"
        resp = delete("strs", flt)
        check(f"{version} delete odd VarChar keys", resp == {"code": 0, "data": {"deleteCount": len(ODD_KEYS)}}
              and ids("strs") == [], (resp, ids("strs")))
    finally:
        check(f"{version} SIGTERM exit 0 (delete)", stopped(proc, signal.SIGTERM))


def test_token_and_hook():
    proc, base = start("2.6", "--token", "root:Milvus")
    try:
        st, resp = call(base, "/v2/vectordb/collections/list", {})
        check("token missing -> 401", st == 401 and resp == {"code": 1800, "message": "user hasn't authenticated"},
              (st, resp))
        auth = {"Authorization": "Bearer root:Milvus"}
        st, resp = call(base, "/v2/vectordb/collections/list", {}, auth)
        check("token ok", st == 200 and resp == {"code": 0, "data": []}, (st, resp))
        call(base, "/kmv-test/fail-next", {"count": 1, "status": 503, "body": "busy"})
        st, resp = call(base, "/v2/vectordb/entities/insert", {"collectionName": "x", "data": [{}]}, auth)
        check("fail-next answers", st == 503 and resp == "busy", (st, resp))
        st, resp = call(base, "/v2/vectordb/entities/insert", {"collectionName": "x", "data": [{}]}, auth)
        check("fail-next used up", st == 200 and resp.get("code") == 100, (st, resp))
    finally:
        check("SIGINT exit 0", stopped(proc, signal.SIGINT))


def main():
    for version in ("2.4", "2.5", "2.6", "3.0"):
        test_version(version)
        test_delete_and_partitions(version)
    test_token_and_hook()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
