#!/usr/bin/env python3
"""Stand-in Milvus REST v2 server for tests (Python standard library only).

THIS IS NOT MILVUS. No real REST v2 server can run on this machine (the only Milvus available here is
the embedded 2.3.5, which speaks REST v1 only), so this fixture reproduces, rule by rule, what the
REST v2 handler of Milvus does with a request, for four release lines (--version 2.4|2.5|2.6|3.0).
It was written from the Milvus source; nothing was compared against a running 2.4+ server.

Releases read (upstream "[automated] Bump milvus version" commits, read from forks):
  2.4 = v2.4.23 a4536a76 (chyezh/milvus)    2.5 = v2.5.27 c8e90858 (bigsheeper/milvus)
  2.6 = v2.6.20 0be4e87c (zhengbuqian/milvus)  3.0 = v3.0.0 6298d2ff (bigsheeper/milvus)
H = internal/distributed/proxy/httpserver, P = internal/proxy. Lines are 2.4 / 2.5 / 2.6 / 3.0.

 rule                                          | where (H unless stated)
 ----------------------------------------------+------------------------------------------------------------
 routes (POST; anything else -> gin 404)        | handler_v2.go 55-94 / 71-120 / 178-234 / 199-259
 401 {1800}; auth is global (before routing)   | internal/distributed/proxy/service.go :146,:252 / :153,:199 / :154,:222 / :153,:222
 Request-Timeout must parse (3.0 only) -> 1100  | timeout_middleware.go 147 / 167 / 243 ignore errors; 3.0 :242-255
 Accept-Type-Allow-Int64 unparsable/absent ->   | 2.4 internal/distributed/proxy/service.go:230-235; utils.go
   proxy.http.acceptTypeAllowInt64 (default true)|   1719-1727 (2.5), 2070 (2.6), 3349 (3.0); pkg/util/paramtable/http_param.go:58-59 (2.5)
 describe shape                                 | handler_v2.go 452-466 / 491-506 / 693-708 / 747-765
 field shape (nullable 2.5+, defaultValue,      | utils.go printFieldDetails 157-198 / printFieldDetail 203-244 /
   isFunctionOutput, params, elementType)       |   277-316 / 352-395; 3.0 structFields printStructArrayFieldsV2 398-423
 params omit "" values; defaultValue shape      | milvus-proto v3.0.0 go-api/commonpb/common.pb.go:1910-1911 (omitempty);
                                                |   go-api/schemapb/schema.pb.go:2242-2258, 2367-2368 ({"Data":{"LongData":5}})
 create keys, defaultValue per type             | request_v2.go FieldSchema (3.0 :765-779); handler_v2.go 2.6 :1957-2016;
                                                |   utils.go convertDefaultValue 2.6 :1839; 2.4's FieldSchema has no nullable/defaultValue
 row decode = checkAndSetData                   | utils.go 225-525 / 287-607 / 361-698 / 466-829
   value text = gjson String()                  | gjson v1.17.1 (go.mod): raw digits kept, else FormatFloat(Num,'f',-1)
   nullable/default: null or absent -> invalid  | - / 314-322 / 395-404 / 521-529
   auto-id pk absent skipped                    | 254 / 326 / 407 / 532
   function output: 2.5 refuses data; 2.6+ skip | - / 331-337 / 413-415 / 538-540 (2.6+: proxy validates; stand-in refuses, 1804)
   vectors missing -> "missing vector field"    | 261 / 341 / 420 / 545
   fp16/bf16: 2.4 []byte only; 2.5+ array|b64   | 289-311 / 369-395 / 448-478 / 573-603
   Int8Vector []int8 (2.6+)                     | - / - / 480-486 / 605-611
   Bool/Int8-32 cast.*E (wraps, no error)       | 312-334 / 402-424 / 491-513 / 616-638 (spf13/cast v1.3.1)
   Int64 json.Number(s).Int64()                 | 336 / 426 / 515 / 640
   JSON raw text; Geometry (2.5+); Timestamptz  | 464 / 546-548 / 635-651 / 760-776
   dynamic: $meta refused, "." rule, extra keys | 491-514 / 576-599 / 667-690 / 792-815
 3.0 struct arrays (missing -> 1804)            | utils.go 3.0 :482-505, parseStructArrayRow :863-865
 columns = anyToColumns: pk on auto-id refused  | 717 / 809 / 944 (allow_insert_auto_id :825) / 1926 (:1807)
   "row %d does not has field"                  | 722 / 823 / 959 / 1941
   dims                                         | convertFloatVectorToArray 548 / 633 / 724 / 1706, Binary 562 / 647 / 738 / 1720,
                                                |   Int8 - / - / 761 / 1743
 decode/column errors -> 1804 "fail to deal ..."| handler_v2.go 760,771 / 954,965 / 1296,1307 / 1584,1595 (upsert: next ones)
 success {code,cost,data{insertCount,insertIds}}| handler_v2.go 780-808 / 975-1002 / 1317-1340 / 1605-1628; upsert() starts 813 / 1007 / 1349 / 1637
 sparse: formats, negative, 2^32-1, duplicates  | pkg/util/typeutil/schema.go 2.5 :1752-1780, :1851-1970 (all four call
                                                |   ValidateSparseFloatRows inside CreateSparseFloatRowFromJSON -> 1804, not 1100)
 proxy 1100: varchar bytes, array capacity,     | P/validate_util.go 2.5 :674-695, :900, :940-968, :971-978, :734-756 (JSON 65536)
   Int8/16 array elements, JSON length          |   (3.0 :909-931, :1146, :1367-1404, :980)
 Timestamptz / Geometry checked by proxy        | P/validate_util.go 2.6 :1266-1285 / :923-937 (stand-in: fromisoformat, a WKT shape check)
 handler panic -> HTTP 500 {"code":500}          | timeout_middleware.go 2.4 :174, 2.5 :194, 2.6 :280, 3.0 :291
 upsert duplicate pk (2.6+) -> 1100             | P/task_upsert.go 2.6 :1583-1595, 3.0 :1616-1628
 upsert on auto-id: new pk generated            | P/task_upsert.go 2.5 :160, :192-193; audit section 5
 merr texts (1100 "invalid parameter", 1804)    | pkg/util/merr/errors.go 3.0 :193, :225-232; utils.go :1241-1275, :1400-1406
 entities/delete: filter required (1802);       | handler_v2.go 701-737 / 894-930 / 1236-1272 / 1524-1560 (identical);
   answer {code:0,data:{deleteCount:n}}, n =    |   request_v2.go :148 / :241 / :321 / :434; P/task_delete.go simpleDelete
   keys listed; no cost                         |   585 / 621 / 579 / 637, repackDeleteMsgByHash numRows++ 255 / 266 / 211 / 238
 delete plan errors -> 1100; empty/always true  | P/task_delete.go 331-337 / 353-361 / 307-315 / 338-346
 filter literals (Plan.g4, convertEscapeSingle  | Plan.g4 StringLiteral 104 / 131 / 142 / 149, EscapeSequence 146 / 173 / 184 / 199;
   + strconv.Unquote, ParseInt then the sign)   |   utils.go 516 / 532 / 554 / 594; parser_visitor.go VisitInteger 96 / 99 / 127 / 165
 partitionName: _default when absent; refused   | P/task_insert.go 2.5 :238-253; P/util.go getPartitionKeyFieldData 1477 / 1870 /
   in partition-key mode (65535, 1100 from 2.6);|   2344 / 2453; P/task_upsert.go 332 / 350 / 1567 / 1600; P/task_delete.go 344 / 368 /
   name rules (validatePartitionTag)            |   322 / 366; P/util.go validatePartitionTag 243 / 265 / 338 / 340
 unknown partition -> 200 partition not found   | P/meta_cache.go 660 / 713 / 839 / 1055; insert P/msg_pack.go :124 (2.4, 2.5),
                                                |   task_insert_streaming.go 2.6 :93, 3.0 :104; P/task_delete.go 366 / 390 / 344 / 388
 upsert replaces the key in its partition only  | P/task_upsert.go 253-270 / 262-279 / 1460-1477 / 1490-1507
 partitions/create|list|has                     | handler_v2.go routes 116-121 / 142-147 / 256-261 / 281-286; createPartition
                                                |   1519 / 1830 / 2333 / 2916; refused in partition-key mode P/task.go 1286 / 1415 /
                                                |   1921 / 2731; an existing name is a no-op (rootcoord/create_partition_task.go 2.5 :53-57)

What Milvus does and the stand-in therefore does too (often surprising): Int8/Int16/Int32 wrap silently
(cast narrows before the proxy's range check sees the value); a missing non-nullable VarChar/JSON/
Geometry is stored as ""; JSON strings are accepted for numeric fields ("7" into Int64); Int64 ids are
numbers unless Accept-Type-Allow-Int64 parses as false; dynamic numbers without "." go through
cast.ToInt64, so 1e-6 -> 0 and 2e+20 -> 0 (audit B1); sparse errors are 1804, not 1100; on 2.4 an array
of 0..255 integers for a fp16/bf16/binary vector decodes as raw bytes (Go []byte), floats fail; deleteCount
counts the keys listed, found or not; an upsert without partitionName replaces the key in _default only;
-9223372036854775808 cannot be written in a filter (-9223372036854775807-1 can); a filter string literal
written the way JSON writes a string (serde_json, or Python json.dumps(ensure_ascii=False)) is read back
exactly, but a backslash-slash or a \\u escape of a UTF-16 surrogate (json.dumps with ensure_ascii=True)
is refused.

Stand-in choices: decode errors get "[field=NAME]" appended; NaN/Inf, WKT and timestamp messages are
paraphrased; on 2.6+/3.0 data for a function-output field is refused with 1804 (Milvus hands it to the
proxy); collections come from a simplified create body (make_collection), 3.0 struct fields without
sub-fields (elements are stored as sent); entities/query and entities/delete evaluate only `pk in [...]`
and `pk == v` (any other filter -> 1100 naming the stand-in; parser error texts are paraphrased;
3.0's raw literals r"..." are not read); entities/query without a filter returns every row (Milvus wants
a limit then); partition-key collections store rows without a partition; partitions/drop, load and
release are absent; upsert partialUpdate is refused; /kmv-test/fail-next is a test hook.
"""

import argparse
import base64
import json
import math
import re
import signal
import struct
import sys
import threading
import traceback
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

V2 = "/v2/vectordb"
VECTORS = {"FloatVector", "BinaryVector", "Float16Vector", "BFloat16Vector", "SparseFloatVector", "Int8Vector"}
SCALARS = {"Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar", "JSON", "Array"}
SINCE = {"Geometry": (2, 5), "Int8Vector": (2, 6), "Timestamptz": (2, 6)}
INT_BITS = {"Int8": 8, "Int16": 16, "Int32": 32}
JSON_MAX = 65536  # common.JSONMaxLength default
ID_BASE = 450000000000000000  # Milvus auto ids are ~4.5e17 (> 2**53)

class ApiError(Exception):
    def __init__(self, code, message, status=200):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

def invalid(msg, expected=None, actual=None):
    """merr.WrapErrParameterInvalidMsg / WrapErrParameterInvalid text."""
    tail = "" if expected is None else f"[expected={expected}][actual={actual}]"
    return f"{msg}: invalid parameter{tail}"

def e1804(msg):
    return ApiError(1804, "fail to deal the insert data, error: " + msg)

# ---- JSON as Go/gjson see it: numbers keep their raw text ----------------------------------------
class Num(str):
    """A JSON number literal, kept as raw text (gjson Result.Raw)."""

def _no_constant(name):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")

def loads(text):
    return json.loads(text, parse_int=Num, parse_float=Num, parse_constant=_no_constant)

def raw(v):
    """Compact JSON text of a parsed value, numbers as written."""
    if isinstance(v, Num):
        return str(v)
    if v is None or isinstance(v, (bool, str)):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(raw(x) for x in v) + "]"
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + raw(x) for k, x in v.items()) + "}"

def format_f(x):
    """Go strconv.FormatFloat(x, 'f', -1, 64)."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return format(Decimal(repr(x)).normalize(), "f")

def gstr(v):
    """gjson Result.String(): '' for null/absent, strings unquoted, all-digit numbers raw, others re-rendered."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Num):
        return str(v) if re.fullmatch(r"-?[0-9]+", v) else format_f(float(v))
    return v if isinstance(v, str) else raw(v)

def go_int(s, base0=True, bits=64):
    """strconv.ParseInt(s, 0|10, bits); None on error."""
    digits = r"0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*" if base0 else r"[0-9]+"
    m = re.fullmatch(r"([+-]?)(%s)" % digits, s)
    if not m:
        return None
    b = m.group(2)
    n = int(b, 0) if b[:2].lower() in ("0x", "0b", "0o") else int(b, 8) if base0 and b[0] == "0" else int(b)
    n = -n if m.group(1) == "-" else n
    return n if -(1 << (bits - 1)) <= n < (1 << (bits - 1)) else None

def wrap(n, bits):
    return ((n + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def f32_short(x):
    """The float32 value as Go prints it (shortest text that round-trips through float32)."""
    if not math.isfinite(x):
        return x
    for p in range(1, 10):
        y = float("%.*g" % (p, x))
        if f32(y) == x:
            return y
    return x

def go_float(s, bits=64):
    """strconv.ParseFloat(s, bits) as cast v1.3.1 uses it; None on error (also on overflow)."""
    literal = s.lstrip("+-").lower() in ("inf", "infinity", "nan")
    if not literal and not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", s):
        return None
    x = float(s)
    if math.isinf(x) and not literal:
        return None
    if bits == 32 and math.isfinite(x):
        try:
            x = f32(x)
        except OverflowError:
            return None
    return x

TRUE, FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")

def go_bool(s):
    """strconv.ParseBool."""
    if s not in TRUE + FALSE:
        raise ValueError(f'strconv.ParseBool: parsing "{s}": invalid syntax')
    return s in TRUE

def kind(x):
    return "number" if isinstance(x, Num) else "string" if isinstance(x, str) else "bool" if isinstance(
        x, bool) else "array" if isinstance(x, list) else "object"

def go_slice(text, elem):
    """json.Unmarshal(text, &[]elem) (Go encoding/json semantics: null elements keep the zero value)."""
    try:
        v = loads(text) if isinstance(text, str) else text
    except ValueError as ex:
        raise ValueError(str(ex))
    if v is None:
        return []
    if not isinstance(v, list):
        raise ValueError(f"json: cannot unmarshal {kind(v)} into Go value of type []{elem}")
    out = []
    for x in v:
        bad = ValueError(f"json: cannot unmarshal {kind(x)} into Go value of type {elem}")
        if x is None:
            out.append({"string": "", "bool": False}.get(elem, 0))
        elif elem in ("float32", "float64"):
            y = go_float(x, int(elem[5:])) if isinstance(x, Num) else None
            if y is None:
                raise bad
            out.append(y)
        elif elem in ("int8", "int32", "int64", "uint8"):
            bits = int(elem.lstrip("uint"))
            n = int(x) if isinstance(x, Num) and re.fullmatch(r"-?[0-9]+", x) else None
            lo, hi = (0, 255) if elem == "uint8" else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            if n is None or not lo <= n <= hi:
                raise bad
            out.append(n)
        elif elem == "json.Number":  # then .Int64(): ParseInt(s, 10, 64)
            n = go_int(str(x), base0=False) if isinstance(x, str) else None
            if n is None:
                raise bad
            out.append(n)
        elif elem == "bool" and isinstance(x, bool) or elem == "string" and type(x) is str:
            out.append(x)
        else:
            raise bad
    return out

def go_bytes(v):
    """json.Unmarshal(raw, &[]byte): a base64 string, or an array of 0..255."""
    if isinstance(v, str) and not isinstance(v, Num):
        try:
            return base64.b64decode(v, validate=True)
        except ValueError as ex:
            raise ValueError(f"illegal base64 data: {ex}")
    return bytes(go_slice(v, "uint8"))

def go_meta(v):
    """A dynamic value after json.Marshal + parse: float64 that is integral (< 1e21) prints as an integer."""
    if isinstance(v, dict):
        return {k: go_meta(x) for k, x in v.items()}
    if isinstance(v, list):
        return [go_meta(x) for x in v]
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    return v

def gjson_value(v):
    """gjson Result.Value(): numbers become float64."""
    if isinstance(v, Num):
        return float(v)
    if isinstance(v, list):
        return [gjson_value(x) for x in v]
    if isinstance(v, dict):
        return {k: gjson_value(x) for k, x in v.items()}
    return v

# ---- rules -------------------------------------------------------------------------------------
def dynamic_value(v):
    """H/utils.go 2.4:491-511 (same in every release): how a top-level dynamic key is typed."""
    if isinstance(v, bool) or (isinstance(v, str) and not isinstance(v, Num)):
        return v
    if isinstance(v, Num):
        if "." in v:
            return go_meta(go_float(v) or 0.0)  # cast.ToFloat64(raw)
        n = go_int(gstr(v))  # cast.ToInt64(gjson String()): 0 when ParseInt fails
        return 0 if n is None else n
    return go_meta(gjson_value(v))

def sparse_row(text):
    """typeutil.CreateSparseFloatRowFromJSON + ValidateSparseFloatRows (errors -> 1804 via the handler)."""
    obj = loads(text)
    if not isinstance(obj, dict):
        raise ValueError("json: cannot unmarshal into Go value of type map[string]interface {}")

    def value(x):
        if not isinstance(x, Num):
            raise ValueError(f"invalid value type in JSON: {type(x).__name__}")
        y = float(x)
        if not math.isfinite(y) or abs(y) > 3.4028234663852886e38:
            raise ValueError(f"invalid value in JSON: {x}")
        return f32(y)

    if "indices" in obj and "values" in obj and isinstance(obj["indices"], list) and isinstance(obj["values"], list):
        idx = []
        for x in obj["indices"]:
            y = float(x) if isinstance(x, Num) else None
            if y is None or y != int(y):
                raise ValueError(f"invalid index in JSON: {x}")
            if y >= 4294967295:
                raise ValueError(f"index too large in JSON: {x}")
            idx.append(int(y) % (1 << 32))  # uint32(int64): -1 becomes 4294967295
        vals = [value(x) for x in obj["values"]]
    elif isinstance(obj.get("indices"), list) or isinstance(obj.get("values"), list):
        raise ValueError("invalid JSON input")
    else:
        idx, vals = [], []
        for k, x in obj.items():
            n = None if k[:1] in "+-" else go_int(k, bits=64)
            if n is None or n >= (1 << 32):
                raise ValueError(f'strconv.ParseUint: parsing "{k}": invalid syntax')
            idx.append(n)
            vals.append(value(x))
    if len(idx) != len(vals):
        raise ValueError("indices and values length mismatch")
    pairs = sorted(zip(idx, vals), key=lambda p: p[0])
    for i, (j, y) in enumerate(pairs):
        if j == 4294967295:
            raise ValueError("invalid index in sparse float vector: must be less than 2^32-1")
        if i and j <= pairs[i - 1][0]:
            raise ValueError("unsorted or same indices in sparse float vector")
        if y < 0:
            raise ValueError("negative value in sparse float vector")
    return pairs

def half_floats(t, data):
    """2-byte elements -> float (fp16 via struct 'e'; bf16 = high half of a float32)."""
    if t == "Float16Vector":
        return [struct.unpack("<e", data[i:i + 2])[0] for i in range(0, len(data), 2)]
    return [struct.unpack("<f", b"\0\0" + data[i:i + 2])[0] for i in range(0, len(data), 2)]

def to_half(t, floats):
    """typeutil.Float32ArrayToFloat16Bytes / ...BFloat16Bytes (bf16 truncates; fp16 overflow -> Inf)."""
    out = b""
    for x in floats:
        if t == "BFloat16Vector":
            out += struct.pack("<f", x)[2:]
        else:
            try:
                out += struct.pack("<e", x)
            except OverflowError:
                out += b"\x00\x7c" if x > 0 else b"\x00\xfc"
    return out

def decode_field(v, f, val, ds):
    """One case of checkAndSetData's switch. Returns the typed value; ValueError -> 1804."""
    t = f["type"]
    if t in VECTORS and ds == "":
        raise ValueError("missing vector field: " + f["name"])
    if t == "FloatVector":
        return [f32(x) for x in go_slice(ds, "float32")]
    if t == "BinaryVector":
        return go_bytes(val)
    if t == "SparseFloatVector":
        return sparse_row(ds)
    if t in ("Float16Vector", "BFloat16Vector"):
        if v < (2, 5) or type(val) is str:
            return go_bytes(val)  # 2.4: only this; a float array fails in json.Unmarshal(&[]byte)
        if isinstance(val, list):
            return to_half(t, go_slice(ds, "float32"))
        raise ValueError("invalid vector field: " + f["name"])
    if t == "Int8Vector":
        return go_slice(ds, "int8")
    if t == "Bool":
        return go_bool(ds)
    if t in INT_BITS:  # cast.ToIntNE: ParseInt(s, 0, 0) then a silent narrowing conversion
        n = go_int(ds)
        if n is None:
            raise ValueError(f'unable to cast "{ds}" of type string to int{INT_BITS[t]}')
        return wrap(n, INT_BITS[t])
    if t == "Int64":
        n = go_int(ds, base0=False)
        if n is None:
            raise ValueError(f'strconv.ParseInt: parsing "{ds}": invalid syntax')
        return n
    if t in ("Float", "Double"):
        x = go_float(ds, 32 if t == "Float" else 64)
        if x is None:
            raise ValueError(f'unable to cast "{ds}" of type string to float{32 if t == "Float" else 64}')
        return x
    if t == "Array":
        elem = {"Bool": "bool", "Int8": "int32", "Int16": "int32", "Int32": "int32", "Int64": "json.Number",
                "Float": "float32", "Double": "float64", "VarChar": "string"}[f["elem"]]
        return go_slice(ds, elem)
    if t in ("JSON", "VarChar", "Geometry", "Timestamptz"):
        return ds
    raise ValueError(f"fieldName: {f['name']}")

def check_and_set_data(v, coll, rows):
    """Phase 1, H/utils.go checkAndSetData: every row to (typed field values, dynamic values)."""
    names = {f["name"] for f in coll["fields"]} | {s["name"] for s in coll["structs"]}
    out = []
    for row in rows:
        if not isinstance(row, (dict, list)):
            gtype = "Null" if row is None else kind(row).title().replace("Bool", str(row))
            raise e1804(invalid("NULL:0, FALSE:1, NUMBER:2, STRING:3, TRUE:4, JSON:5", "JSON", gtype))
        row = row if isinstance(row, dict) else {}
        typed, dyn = {}, {}
        for s in coll["structs"]:  # 3.0 only
            val = row.get(s["name"])
            if s["nullable"] and val is None:
                continue
            if s["name"] not in row:
                raise e1804(invalid(f"missing struct array field: {s['name']}"))
            if not isinstance(val, list) or not all(isinstance(e, dict) for e in val):
                raise e1804(invalid(f"struct array field {s['name']} expects a JSON array of objects"))
            typed[s["name"]] = go_meta(gjson_value(val))
        for f in coll["fields"]:
            val = row.get(f["name"])
            if v >= (2, 5) and (f["nullable"] or f["default"] is not None) and val is None:
                continue
            ds = gstr(val)
            if f["pk"] and f["auto"] and ds == "":
                continue
            if f["fo"]:
                if ds == "":
                    continue
                raise e1804("invalid parameter[expected=][actual=not allowed to provide input data for function "
                            f"output field: {f['name']}]")
            try:
                typed[f["name"]] = decode_field(v, f, val, ds)
            except ValueError as ex:
                raise e1804(invalid(str(ex), f["type"], ds) + f"[field={f['name']}]")
        for key, val in row.items():
            if key in names:
                continue
            if not coll["dynamic"]:
                raise e1804(invalid("has pass more field without dynamic schema, please check it"))
            if key == "$meta":
                raise e1804(invalid(f"use the invalid field name({key}) when enable dynamicField"))
            if val is not None:
                dyn[key] = dynamic_value(val)
        out.append((typed, dyn))
    return out

def any_to_columns(v, coll, decoded, insert):
    """Phase 2, H/utils.go anyToColumns: presence rules, auto-id, dimensions, $meta."""
    allow_auto = v >= (2, 6) and prop_true(coll, "allow_insert_auto_id")
    suffix = ": invalid parameter" if v >= (2, 6) else ""
    for typed, dyn in decoded:
        for idx, f in enumerate(coll["fields"]):
            ok = f["name"] in typed
            if f["pk"] and f["auto"] and insert:
                if ok and not allow_auto:
                    raise e1804(invalid(f"no need to pass pk field({f['name']}) when autoid==true in insert"))
                continue
            if (v >= (2, 5) and (f["nullable"] or f["default"] is not None) or f["fo"]) and not ok:
                continue
            if not ok:
                raise e1804(f"row {idx} does not has field {f['name']}{suffix}")
            check_dim(v, f, typed[f["name"]], suffix)
        if dyn:
            try:
                json.dumps(dyn, allow_nan=False)
            except ValueError as ex:
                raise e1804(f"failed to marshal dynamic field {ex}")

def check_dim(v, f, val, suffix):
    t, dim = f["type"], f.get("dim")
    want = {"FloatVector": dim, "Int8Vector": dim, "BinaryVector": (dim or 0) // 8,
            "Float16Vector": 2 * (dim or 0), "BFloat16Vector": 2 * (dim or 0)}.get(t)
    if want is not None and len(val) != want:
        unit = {"FloatVector": "float32", "Int8Vector": "int8"}.get(t, "byte")
        raise e1804(f"[]{unit} size {len(val)} doesn't equal to vector dimension {dim} of {t}{suffix}")

def check_duplicates(v, coll, decoded):
    """2.6+ upsert: duplicate keys in one batch -> 1100, in PreExecute before the partition name and the
    field checks (P/task_upsert.go 2.6 :1583-1595, 3.0 :1616-1628). 2.4 and 2.5 store both rows."""
    if v >= (2, 6):
        pks = [typed.get(coll["pk"]) for typed, _ in decoded]
        if len(set(pks)) != len(pks):
            raise ApiError(1100, invalid("duplicate primary keys are not allowed in the same batch"))

def validate(v, coll, decoded):
    """Phase 3, the proxy's field checks (P/validate_util.go): all -> 1100."""
    for i, (typed, dyn) in enumerate(decoded):
        for f in coll["fields"]:
            x, t = typed.get(f["name"]), f["type"]
            if x is None:
                continue
            if t == "VarChar" and not f["auto"] and len(x.encode()) > f["max_length"]:
                raise ApiError(1100, invalid(f"length of varchar field {f['name']} exceeds max length, row number: "
                                             f"{i}, length: {len(x.encode())}, max length: {f['max_length']}"))
            if t == "Array":
                validate_array(f, x, i)
            if t == "JSON" and len(x.encode()) > JSON_MAX:
                raise ApiError(1100, invalid(f"the length ({len(x.encode())}) of json field ({f['name']}) exceeds "
                                             f"max length ({JSON_MAX})", "valid length json string",
                                             "length exceeds max length"))
            bad_float = t in ("Float", "Double") and not math.isfinite(x) or t in (
                "Float16Vector", "BFloat16Vector") and not all(map(math.isfinite, half_floats(t, x)))
            if bad_float:
                raise ApiError(1100, invalid(f"field {f['name']} has NaN or Inf value (stand-in text)"))
            if t == "Timestamptz" and not iso_ok(x):
                raise ApiError(1100, invalid(f"got invalid timestamptz string '{x}': invalid timezone name; must be a "
                                             "valid IANA Time Zone ID (e.g., 'Asia/Shanghai' or 'UTC')"))
            if t == "Geometry" and not wkt_ok(x):
                raise ApiError(1100, invalid(f"invalid Geometry data, transform to wkb failed: {x!r} (stand-in text)"))
        meta = json.dumps(dyn, separators=(",", ":"), ensure_ascii=False)
        if dyn and len(meta.encode()) > JSON_MAX:
            raise ApiError(1100, invalid(f"the length ({len(meta.encode())}) of dynamic field exceeds max length "
                                         f"({JSON_MAX})", "valid length dynamic field", "length exceeds max length"))

def validate_array(f, arr, row):
    if len(arr) > f["max_capacity"]:
        raise ApiError(1100, invalid(f"the length ({len(arr)}) of {row}th array exceeds max capacity "
                                     f"({f['max_capacity']})", "valid length array", "array length exceeds max capacity"))
    rng = {"Int8": 8, "Int16": 16}.get(f["elem"])
    for j, e in enumerate(arr):
        if rng and not -(1 << (rng - 1)) <= e < (1 << (rng - 1)):
            lo, hi = -(1 << (rng - 1)), (1 << (rng - 1)) - 1
            raise ApiError(1100, invalid(f"the {j}th element ({e}) out of range: [{lo}, {hi}]",
                                         "integer doesn't overflow", "out of range"))
        if f["elem"] == "VarChar" and len(e.encode()) > f["max_length"]:
            raise ApiError(1100, invalid(f'length of {f["elem"]} array field "{f["name"]}" exceeds max length, row '
                                         f"number: {row}, array index: {j}, length: {len(e.encode())}, max length: "
                                         f"{f['max_length']}"))

def iso_ok(s):
    try:
        datetime.fromisoformat(s)
        return "T" in s or " " in s or len(s) == 10
    except ValueError:
        return False

def wkt_ok(s):
    m = re.fullmatch(r"\s*(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)"
                     r"\s*(Z|M|ZM)?\s*(EMPTY|\((.*)\))\s*", s, re.I | re.S)
    if not m:
        return False
    depth = 0
    for c in m.group(3):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0

def prop_true(coll, key):
    return any(k == key and v in TRUE for k, v in coll["properties"])

# ---- collections -------------------------------------------------------------------------------
def ci(d, key, default=None):
    """Go encoding/json matches object keys case-insensitively."""
    for k, x in (d or {}).items():
        if k.lower() == key.lower():
            return x
    return default

def default_value(v, f, dv):
    """utils.go convertDefaultValue (2.6): the proto ValueField and the stored value."""
    t = f["type"]
    num = isinstance(dv, Num)
    kinds = {"Bool": ("BoolData", isinstance(dv, bool), lambda x: x),
             "Int64": ("LongData", num, lambda x: int(float(x))),
             "Float": ("FloatData", num, lambda x: f32(float(x))), "Double": ("DoubleData", num, float)}
    for it in INT_BITS:
        kinds[it] = ("IntData", num, lambda x: wrap(int(float(x)), 32))
    for st in ("VarChar", "Geometry", "Timestamptz"):
        kinds[st] = ("StringData", type(dv) is str, lambda x: x)
    if t not in kinds or not kinds[t][1]:
        raise ApiError(1100, invalid(f'cannot use "{gstr(dv)}" as {t} default value'))
    key, _, conv = kinds[t]
    val = conv(dv)
    return val, {"Data": {key: f32_short(val) if t == "Float" else val}}

def make_collection(v, body, ids):
    schema = body.get("schema") or {}
    auto = bool(ci(schema, "autoID", False))
    props = body.get("properties") or []
    props = [(str(p.get("key", "")), gstr(p.get("value"))) for p in props] if isinstance(props, list) else \
        [(k, gstr(x)) for k, x in props.items()]
    coll = {"id": next(ids), "fields": [], "structs": [], "dynamic": bool(ci(schema, "enableDynamicField", False)),
            "properties": props, "loaded": body.get("load", True) is not False, "rows": [], "pk": None}
    fid = 100
    for spec in ci(schema, "fields", []) or []:
        t = spec.get("dataType", "")
        if t not in SCALARS | VECTORS | set(SINCE) or v < SINCE.get(t, (0, 0)):
            raise ApiError(1100, "invalid parameter, data type " + t + " is invalid(case sensitive).")
        params = [(k, gstr(x)) for k, x in (spec.get("elementTypeParams") or {}).items()]
        p = dict(params)
        f = {"name": spec.get("fieldName", ""), "type": t, "id": fid, "pk": bool(spec.get("isPrimary")),
             "pkey": bool(spec.get("isPartitionKey")), "params": params, "elem": spec.get("elementDataType"),
             "nullable": v >= (2, 5) and bool(spec.get("nullable")), "default": None, "vf": None,
             "fo": v >= (2, 5) and bool(spec.get("isFunctionOutput")), "dim": None, "max_length": None,
             "max_capacity": None}
        f["auto"] = f["pk"] and auto
        for key in ("dim", "max_length", "max_capacity"):
            if key in p:
                f[key] = go_int(p[key], base0=False)
        if t == "Array" and f["elem"] not in ("Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar"):
            raise ApiError(1100, f"invalid parameter, element data type {f['elem']} is invalid(case sensitive).")
        if (t in VECTORS - {"SparseFloatVector"} and not f["dim"]) or (
                "VarChar" in (t, f["elem"]) and not f["max_length"]) or (t == "Array" and not f["max_capacity"]):
            raise ApiError(1100, invalid(f"field {f['name']}: dim / max_length / max_capacity missing (stand-in)"))
        if v >= (2, 5) and spec.get("defaultValue") is not None:
            if t in VECTORS or t in ("JSON", "Array") or f["pk"]:
                raise ApiError(1100, invalid(f"{t} field {f['name']} does not support default value"))
            f["default"], f["vf"] = default_value(v, f, spec["defaultValue"])
        if f["nullable"] and (f["pk"] or (t in VECTORS and v < (3, 0))):
            raise ApiError(1100, invalid(f"{t} field {f['name']} cannot be nullable"))
        if f["pk"]:
            if t not in ("Int64", "VarChar") or (f["auto"] and t != "Int64") or coll["pk"]:
                raise ApiError(1100, invalid("primary key must be one Int64 (auto-id allowed) or VarChar field"))
            coll["pk"] = f["name"]
        coll["fields"].append(f)
        fid += 1
    if not coll["pk"] or not any(f["type"] in VECTORS for f in coll["fields"]):
        raise ApiError(1100, invalid("schema needs a primary key field and a vector field"))
    # a partition-key collection gets _default_0.._default_15 (pkg/common/common.go 2.5 :70), others _default
    coll["partitions"] = [f"_default_{i}" for i in range(16)] if key_mode(coll) else ["_default"]
    for s in schema.get("structFields") or []:
        if v < (3, 0):
            raise ApiError(1100, invalid("structFields needs Milvus 3.0"))
        coll["structs"].append({"name": s.get("fieldName", ""), "id": fid, "nullable": bool(s.get("nullable"))})
        fid += 1
    return coll

def kv(pairs):
    """commonpb.KeyValuePair with Go omitempty on key and value."""
    return [{k: x for k, x in (("key", a), ("value", b)) if x != ""} for a, b in pairs]

def describe(v, name, coll):
    fields = []
    for f in coll["fields"]:
        d = {"name": f["name"], "primaryKey": f["pk"], "partitionKey": f["pkey"], "clusteringKey": False,
             "autoId": f["auto"], "description": ""}
        if v >= (2, 5):
            d["nullable"] = f["nullable"]
        if f["vf"] is not None:
            d["defaultValue"] = f["vf"]
        if f["fo"]:
            d["isFunctionOutput"] = True
        d.update(type=f["type"], id=f["id"])
        if f["params"]:
            d["params"] = kv(f["params"])
        if f["type"] == "Array":
            d["elementType"] = f["elem"]
        fields.append(d)
    data = {"collectionName": name, "collectionID": coll["id"], "description": "",
            "autoId": any(f["auto"] for f in coll["fields"]), "fields": fields}
    if v >= (3, 0):
        data["structFields"] = [{"name": s["name"], "id": s["id"], "description": "", "nullable": s["nullable"],
                                 "type": "ArrayOfStruct", "fields": []} for s in coll["structs"]]
    if v >= (2, 5):
        data["functions"] = []
    data.update({"aliases": [], "indexes": [], "load": "LoadStateLoaded" if coll["loaded"] else "LoadStateNotLoad",
                 "shardsNum": 1, "partitionsNum": len(coll["partitions"]), "consistencyLevel": "Bounded",
                 "enableDynamicField": coll["dynamic"]})
    if v >= (3, 0):
        data.update(externalSource="", externalSpec="")
    data["properties"] = kv(coll["properties"])
    return {"code": 0, "data": data, "message": ""}

# ---- partitions -------------------------------------------------------------------------------------
def key_mode(coll):
    return any(f["pkey"] for f in coll["fields"])

def plain_error(v, msg):
    """errors.New in 2.4/2.5 (merr.Code -> 65535, pkg/util/merr/utils.go 2.5 :37-56); from 2.6 the same text
    is merr.WrapErrParameterInvalidMsg (1100)."""
    return ApiError(1100, invalid(msg)) if v >= (2, 6) else ApiError(65535, msg)

def check_partition_name(v, name):
    """P/util.go validatePartitionTag (2.4 :243, 2.5 :265, 2.6 :338, 3.0 :340), strict."""
    tag = name.strip()
    bad = "Invalid partition name: " + tag + ". "
    if tag == "":
        raise plain_error(v, bad + "Partition name should not be empty.")
    if len(tag.encode()) > 255:  # proxy.maxNameLength
        raise plain_error(v, bad + "The length of a partition name must be less than 255 characters.")
    word = lambda c: c == "_" or c.isascii() and c.isalnum()
    if not word(tag[0]):
        raise plain_error(v, bad + "The first character of a partition name must be an underscore or letter.")
    if not all(word(c) or c == "-" for c in tag[1:]):
        raise plain_error(v, bad + "Partition name can only contain numbers, letters and underscores.")

def target_partition(v, coll, name, default="_default"):
    """The partition a request names: refused on partition-key collections (P/util.go getPartitionKeyFieldData
    2.4 :1477, 2.5 :1870, 2.6 :2344, 3.0 :2453; P/task_upsert.go 2.4 :332, 2.5 :350, 2.6 :1567, 3.0 :1600;
    P/task_delete.go 2.4 :344, 2.5 :368, 2.6 :322, 3.0 :366); None there = decided by the key. Unnamed:
    _default for insert/upsert (P/task_insert.go 2.5 :240-248), every partition for delete."""
    if key_mode(coll):
        if name:
            raise plain_error(v, "not support manually specifying the partition names if partition key mode is used")
        return None
    if not name:
        return default
    check_partition_name(v, name)
    return name

def partition_must_exist(coll, name):
    """globalMetaCache.GetPartitionID -> merr.WrapErrPartitionNotFound, code 200 (P/meta_cache.go 2.4 :660,
    2.5 :713, 2.6 :839, 3.0 :1055; merr/errors.go 2.4 :75, 2.5 :76, 2.6/3.0 :87)."""
    if name is not None and name not in coll["partitions"]:
        raise ApiError(200, f"partition not found[partition={name}]")

# ---- filters: the subset of planparserv2 the stand-in evaluates ----------------------------------
# Grammar (internal/parser/planparserv2/Plan.g4): Whitespace [ \t]+ and Newline skipped; IN is 'in'|'IN';
# StringLiteral = EncodingPrefix? ("..." | '...'), a char being anything but the quote, '\', CR, LF, or an
# EscapeSequence: \['"?abfnrtv\\] | \ + 1-3 octal digits | \x + hex digits | \u + 4 hex | \U + 8 hex, or a
# backslash-newline (2.4 Plan.g4:104-113,146-150; 2.5 :131-140,173-177; 2.6 :142-151,184-188; 3.0 :149-162,
# 199-204, which adds \ + any char but CR/LF). VisitString then runs convertEscapeSingle, which ends in Go's
# strconv.Unquote (utils.go 2.4 :516-555, 2.5 :532-571, 2.6 :554-593, 3.0 :594-633): so \?, \/, a lone
# surrogate \ud83d, \' inside "..." after the rewrite, a raw newline all fail, while JSON's own escaping
# (\" \\ \n \r \t \b \f \u00XX, raw UTF-8) is read back exactly. Integers: ParseInt(literal, 0, 64), the sign
# applied afterwards by VisitUnary (parser_visitor.go 2.4 :96, 2.5 :99, 2.6 :127, 3.0 :165), so
# -9223372036854775808 does not parse, while -9223372036854775807-1 does (both seen on a real 2.3.5 too).
def filter_escape(v):
    esc = r"""\\(?:['"?abfnrtv\\]|[0-7]{1,3}|x[0-9a-fA-F]+|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|\r?\n%s)""" % (
        r"|[^\r\n]" if v >= (3, 0) else "")
    return r"""(?:u8|[uUL])?(?:"(?:[^"\\\r\n]|%s)*"|'(?:[^'\\\r\n]|%s)*')""" % (esc, esc)

FILTER_TOKENS = [("ws", r"[ \t\r\n]+"),
                 ("float", r"(?:[0-9]*\.[0-9]+|[0-9]+\.)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"),
                 ("int", r"0[xX][0-9a-fA-F]+|0[bB][01]+|[1-9][0-9]*|0[0-7]*"), ("op", r"==|[\[\],+-]"),
                 ("ident", r"[a-zA-Z_][a-zA-Z_0-9]*|\$meta"),
                 ("other", r"[<>!]=?|&&|\|\||[()*/%^~&|{}.:#$]")]  # valid Milvus, not evaluated by the stand-in

def convert_escape_single(lit):
    """planparserv2 convertEscapeSingle: re-quote as a Go "..." literal (unescaped " escaped, \\' -> '), Unquote."""
    need, esc = [], 0
    for i in range(1, len(lit) - 1):
        if lit[i] == "\\":
            esc += 1
            continue
        if lit[i] == '"' and esc % 2 == 0 or lit[i] == "'" and esc % 2 != 0:
            need.append(i)
        esc = 0
    out, start, end = ['"'], 1, 0
    for end in need:
        out += [lit[start:end], '\\"'] if lit[end] == '"' else [lit[start:end - 1], "'"]
        start = end + 1
    out += [lit[end + 1:len(lit) - 1], '"']
    return go_unquote("".join(out))

def go_unquote(s):
    """Go strconv.Unquote of a "..." literal; ValueError('invalid syntax') where Go answers ErrSyntax."""
    body, out, i = s[1:-1], bytearray(), 0
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
    while i < len(body):
        c = body[i]
        if c in '"\n':
            raise ValueError("invalid syntax")
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        i += 2
        if e in simple and e:
            out.append(simple[e])
        elif e and e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i:i + n]
            if len(digits) < n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            val, i = int(digits, 16), i + n
            if e == "x":
                out.append(val)
            elif val > 0x10FFFF or 0xD800 <= val <= 0xDFFF:  # utf8.ValidRune
                raise ValueError("invalid syntax")
            else:
                out += chr(val).encode()
        elif e and e in "01234567":
            digits = body[i - 1:i + 2]
            if not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 2
        else:  # \' in "...", \?, \/, \ + newline, ...
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "surrogateescape")

def filter_tokens(v, expr):
    """The lexer: a list of (kind, text); a character no token matches is a syntax error."""
    rules = [("str", filter_escape(v))] + FILTER_TOKENS
    master = re.compile("|".join(f"(?P<{k}>{r})" for k, r in rules))
    toks, pos = [], 0
    while pos < len(expr):
        m = master.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"line 1:{pos} token recognition error at: '{expr[pos:pos + 1]}'")
        if m.lastgroup != "ws":
            toks.append((m.lastgroup, m.group()))
        pos = m.end()
    return toks

def filter_value(v, toks, pk):
    """One list element or == operand: [+-]* (integer | string), integers joined by + or - folded as Go int64
    arithmetic (VisitAddSub on two constants, parser_visitor.go 2.3.4 :160-177, 2.5 :163-196, 3.0 :335-367), so
    -9223372036854775807-1 is how i64::MIN is written; then cast to the key's type (castValue)."""
    val, text = filter_unary(v, toks)
    while toks and toks[0] in (("op", "-"), ("op", "+")):
        minus = toks.pop(0)[1] == "-"
        right, more = filter_unary(v, toks)
        if type(val) is not int or type(right) is not int:
            raise ValueError("add/subtract cannot apply on this operand (stand-in text)")
        val, text = wrap(val - right if minus else val + right, 64), text + ("-" if minus else "+") + more
    want = int if pk["type"] == "Int64" else str
    if type(val) is not want:
        raise ValueError(f"value '{text}' in list cannot be casted to {pk['type']}")
    return val

def filter_unary(v, toks):
    neg = False
    while toks and toks[0] in (("op", "-"), ("op", "+")):
        neg ^= toks.pop(0)[1] == "-"
    if not toks:
        raise ValueError("mismatched input '<EOF>'")
    kind_, text = toks.pop(0)
    if kind_ == "int":
        n = go_int(text)  # ParseInt(literal, 0, 64) before the sign is applied
        if n is None:
            raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
        val = -n if neg else n
    elif kind_ == "str" and not neg:
        val = convert_escape_single(text)
    elif kind_ == "float" or kind_ == "ident" and text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        val = (kind_, text)  # a float or bool constant: castValue refuses it for Int64 and VarChar alike
    else:
        raise ValueError(f"extraneous input '{text}'")
    return val, text

def parse_filter(v, coll, expr, what="query"):
    """`pk in [k, ...]` or `pk == k` -> the keys as listed (duplicates kept); None = no filter.
    Errors are what the proxy answers: 1100 "failed to create <what> plan: ..." (P/task_delete.go 2.4 :331-333,
    2.5 :353-356, 2.6 :307-310, 3.0 :338-341; P/task_query.go 2.5 :246). Parser texts are paraphrased."""
    if not expr or not expr.strip():
        return None
    pk = next(f for f in coll["fields"] if f["pk"])
    try:
        toks = filter_tokens(v, expr)
        if len(toks) < 3 or toks[0][0] != "ident" or toks[0][1] in ("in", "IN"):
            raise LookupError
        name = toks.pop(0)[1]
        if name != pk["name"]:
            if name in {f["name"] for f in coll["fields"]} or coll["dynamic"]:
                raise LookupError
            raise ValueError(f"field {name} not exist")
        op = toks.pop(0)
        if op == ("op", "=="):
            keys = [filter_value(v, toks, pk)]
        elif op in (("ident", "in"), ("ident", "IN")) and toks.pop(0) == ("op", "["):
            keys = []
            while toks and toks[0] != ("op", "]"):
                keys.append(filter_value(v, toks, pk))
                if toks and toks[0] == ("op", ","):
                    toks.pop(0)
                elif toks and toks[0] != ("op", "]"):
                    raise ValueError(f"mismatched input '{toks[0][1]}' expecting {{',', ']'}}")
            if not toks:
                raise ValueError("mismatched input '<EOF>' expecting {',', ']'}")
            toks.pop(0)
        else:
            raise LookupError
        if toks:
            raise LookupError
    except LookupError:
        raise ApiError(1100, invalid(f"the stand-in evaluates only `{pk['name']} in [...]` and `{pk['name']} == v`, "
                                     f"not: {expr}"))
    except ValueError as ex:
        raise ApiError(1100, invalid(f"failed to create {what} plan: cannot parse expression: {expr}, error: {ex}"))
    return keys

def output_value(f, x):
    t = f["type"]
    if x is None:
        return None
    if t == "Float":
        return f32_short(x)
    if t == "FloatVector":
        return [f32_short(y) for y in x]
    if t in ("Float16Vector", "BFloat16Vector"):
        return half_floats(t, x)
    if t == "BinaryVector":
        return list(x)
    if t == "SparseFloatVector":
        return {str(i): f32_short(y) for i, y in x}
    if t == "Array" and f["elem"] == "Float":
        return [f32_short(y) for y in x]
    if t == "JSON":
        try:
            return json.loads(x)
        except ValueError:
            return x
    return x

# ---- HTTP ------------------------------------------------------------------------------------------
class State:
    def __init__(self, version, token, int64_default):
        self.v = tuple(int(p) for p in version.split("."))
        self.token, self.int64_default = token, int64_default
        self.lock = threading.Lock()
        self.colls = {}
        self.fail = {"count": 0}
        self.next_pk = iter(range(ID_BASE + 1, 1 << 63))
        self.next_coll = iter(range(ID_BASE + 10 ** 15, 1 << 63))

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/kmv-test/fail-next" and self.command == "POST":
            spec = json.loads(body or b"{}")
            with st.lock:
                st.fail = {"count": int(spec.get("count", 1)), "status": int(spec.get("status", 503)),
                           "body": str(spec.get("body", ""))}
            return self.send(200, {"code": 0, "data": {}})
        auth = self.headers.get("Authorization", "")
        if st.token is not None and auth.removeprefix("Bearer ") != st.token:
            return self.send(401, {"code": 1800, "message": "user hasn't authenticated"})
        action = self.path[len(V2):] if self.path.startswith(V2 + "/") else None
        if self.command != "POST" or action not in ROUTES:
            return self.send(404, b"404 page not found", "text/plain")
        timeout = self.headers.get("Request-Timeout")
        if st.v >= (3, 0) and timeout is not None and go_int(timeout, base0=False) is None:
            msg = f'strconv.ParseInt: parsing "{timeout}": invalid syntax'
            return self.send(200, {"code": 1100, "message": invalid(f"Request-Timeout parse failed, err: {msg}")})
        if action in ("/entities/insert", "/entities/upsert"):
            with st.lock:
                if st.fail["count"] > 0:
                    st.fail["count"] -= 1
                    return self.send(st.fail["status"], st.fail["body"].encode())
        try:
            try:
                req = loads(body or b"{}")
                if not isinstance(req, dict):
                    raise ValueError("json: cannot unmarshal into Go value of type struct")
            except ValueError as ex:
                raise ApiError(1801, f"can only accept json format request, error: {ex}")
            if not all(type(req.get(k, "")) is str for k in ("collectionName", "dbName", "partitionName", "filter")):
                raise ApiError(1801, "can only accept json format request, error: json: cannot unmarshal into string")
            db = req.get("dbName") or self.headers.get("DB-Name") or "default"
            if action != "/collections/list" and not req.get("collectionName"):
                raise ApiError(1802, "missing required parameters, error: Key: 'collectionName' Error:Field "
                                     "validation for 'collectionName' failed on the 'required' tag")
            with st.lock:
                answer = ROUTES[action](self, st, db, req)
        except ApiError as ex:
            return self.send(ex.status, {"code": ex.code, "message": ex.message})
        except Exception:  # a Go handler panic answers HTTP 500 {"code":500} (timeout_middleware.go 2.6 :280)
            traceback.print_exc()
            return self.send(500, {"code": 500})
        self.send(200, answer)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = handle_any

    def get(self, st, db, req):
        coll = st.colls.get((db, req["collectionName"]))
        if coll is None:
            raise ApiError(100, f"can't find collection[database={db}][collection={req['collectionName']}]")
        return coll

    def create(self, st, db, req):
        if (db, req["collectionName"]) in st.colls:
            raise ApiError(65535, "collection already exists")
        st.colls[(db, req["collectionName"])] = make_collection(st.v, req, st.next_coll)
        return {"code": 0, "data": {}}

    def describe(self, st, db, req):
        return describe(st.v, req["collectionName"], self.get(st, db, req))

    def list(self, st, db, req):
        return {"code": 0, "data": [n for (d, n) in st.colls if d == db]}

    def drop(self, st, db, req):
        st.colls.pop((db, req["collectionName"]), None)
        return {"code": 0, "data": {}}

    def write(self, st, db, req, upsert):
        if "data" not in req:
            raise ApiError(1802, "missing required parameters, error: Key: 'CollectionDataReq.Data' Error:Field "
                                 "validation for 'Data' failed on the 'required' tag")
        if not isinstance(req["data"], list):
            raise ApiError(1801, "can only accept json format request, error: data must be an array")
        if req["data"] == []:
            raise e1804("missing required parameters")
        if upsert and req.get("partialUpdate"):
            raise ApiError(1100, invalid("partialUpdate is not implemented by the stand-in"))
        coll = self.get(st, db, req)
        decoded = check_and_set_data(st.v, coll, req["data"])
        any_to_columns(st.v, coll, decoded, insert=not upsert)
        part = target_partition(st.v, coll, req.get("partitionName", ""))  # PreExecute, before the field checks
        if upsert:
            check_duplicates(st.v, coll, decoded)
        validate(st.v, coll, decoded)
        # unknown partition (code 200) is found last: P/msg_pack.go 2.4/2.5 :124, task_insert_streaming.go 2.6 :93,
        # 3.0 :104; upsert P/task_upsert.go 2.4 :265, 2.5 :274, 2.6 :1472, 3.0 :1502
        partition_must_exist(coll, part)
        pk = next(f for f in coll["fields"] if f["pk"])
        ids, new = [], []
        for typed, dyn in decoded:
            row = {}
            for f in coll["fields"]:
                row[f["name"]] = typed[f["name"]] if f["name"] in typed else f["default"]
            for s in coll["structs"]:
                row[s["name"]] = typed.get(s["name"])
            if pk["auto"] and (upsert or pk["name"] not in typed):
                row[pk["name"]] = next(st.next_pk)  # upsert on auto-id: the proxy assigns a new key
            row["$meta"], row["$partition"] = dyn, part
            ids.append(row[pk["name"]])
            new.append(row)
        if upsert:  # the delete half of an upsert covers the target partition only, every partition in
            # partition-key mode (P/task_upsert.go 2.4 :253-270, 2.5 :262-279, 2.6 :1460-1477, 3.0 :1490-1507)
            gone = {typed.get(pk["name"]) for typed, _ in decoded}
            coll["rows"] = [r for r in coll["rows"] if r[pk["name"]] not in gone or part not in (None, r["$partition"])]
        coll["rows"].extend(new)
        header = self.headers.get("Accept-Type-Allow-Int64", "")
        try:
            as_numbers = go_bool(header)
        except ValueError:
            as_numbers = st.int64_default
        if pk["type"] == "Int64" and not as_numbers:
            ids = [str(i) for i in ids]
        kind = "upsert" if upsert else "insert"
        return {"code": 0, "cost": 0, "data": {kind + "Count": len(ids), kind + "Ids": ids}}

    def delete(self, st, db, req):
        """H/handler_v2.go delete (2.4 :701-737, 2.5 :894-930, 2.6 :1236-1272, 3.0 :1524-1560; the same in all
        four). `filter` is binding:"required" (request_v2.go 2.4 :148, 2.5 :241, 2.6 :321, 3.0 :434), so the
        handler's `id` fallback is never reached. deleteCount is the number of keys in the expression,
        duplicates and missing keys included (P/task_delete.go simpleDelete 2.5 :621-643; repackDeleteMsgByHash
        counts each key, :246-266). The answer has no `cost`."""
        if not req.get("filter"):
            raise ApiError(1802, "missing required parameters, error: Key: 'CollectionFilterReq.Filter' Error:Field "
                                 "validation for 'Filter' failed on the 'required' tag")
        coll = self.get(st, db, req)
        keys = parse_filter(st.v, coll, req["filter"], "delete")
        if keys is None:  # P/task_delete.go 2.4 :336, 2.5 :360, 2.6 :314, 3.0 :345
            raise ApiError(1100, invalid(f"delete plan can't be empty or always true : {req['filter']}"))
        part = target_partition(st.v, coll, req.get("partitionName", ""), default=None)
        partition_must_exist(coll, part)  # P/task_delete.go 2.4 :366, 2.5 :390, 2.6 :344, 3.0 :388
        gone = set(keys)
        coll["rows"] = [r for r in coll["rows"] if r[coll["pk"]] not in gone or part not in (None, r["$partition"])]
        return {"code": 0, "data": {"deleteCount": len(keys)}}

    def query(self, st, db, req):
        """Rows by a primary-key filter (none = every row, which Milvus allows only with a limit), optionally
        within `partitionNames` (refused in partition-key mode, P/task_query.go 2.5 :354-356; unknown -> 200)."""
        coll = self.get(st, db, req)
        names = req.get("partitionNames") or []
        if names and key_mode(coll):
            raise ApiError(1100, invalid("not support manually specifying the partition names if partition key "
                                         "mode is used"))
        for name in names:
            partition_must_exist(coll, name)
        keys = parse_filter(st.v, coll, req.get("filter"))
        wanted = req.get("outputFields") or ["*"]
        out = []
        for r in coll["rows"]:
            if keys is not None and r[coll["pk"]] not in keys or names and r["$partition"] not in names:
                continue
            row = {k: x for k, x in r["$meta"].items() if "*" in wanted or k in wanted}
            for f in coll["fields"]:
                if "*" in wanted or f["name"] in wanted or f["pk"]:
                    row[f["name"]] = output_value(f, r[f["name"]])
            for s in coll["structs"]:
                if "*" in wanted or s["name"] in wanted:
                    row[s["name"]] = r[s["name"]]
            out.append(row)
        return {"code": 0, "cost": 0, "data": out}

    def partition_request(self, st, db, req):
        """PartitionReq: partitionName is binding:"required" (request_v2.go 2.4 :75, 2.5 :166, 2.6 :244,
        3.0 :294)."""
        if not req.get("partitionName"):
            raise ApiError(1802, "missing required parameters, error: Key: 'PartitionReq.PartitionName' Error:Field "
                                 "validation for 'PartitionName' failed on the 'required' tag")
        return self.get(st, db, req)

    def create_partition(self, st, db, req):
        """H/handler_v2.go createPartition (2.4 :1519, 2.5 :1830, 2.6 :2333, 3.0 :2916) -> {"code":0,"data":{}}.
        Refused in partition-key mode (P/task.go 2.4 :1286, 2.5 :1415, 2.6 :1921, 3.0 :2731); an existing name
        is a no-op (internal/rootcoord/create_partition_task.go 2.5 :53-57)."""
        coll = self.partition_request(st, db, req)
        if key_mode(coll):
            raise plain_error(st.v, "disable create partition if partition key mode is used")
        check_partition_name(st.v, req["partitionName"])
        if req["partitionName"] not in coll["partitions"]:
            coll["partitions"].append(req["partitionName"])
        return {"code": 0, "data": {}}

    def list_partitions(self, st, db, req):
        """listPartitions (2.5 H/handler_v2.go :1775) -> wrapperReturnList (request_v2.go 2.5 :554-559)."""
        return {"code": 0, "data": list(self.get(st, db, req)["partitions"])}

    def has_partition(self, st, db, req):
        """hasPartitions (2.5 H/handler_v2.go :1792) -> wrapperReturnHas: {"code":0,"data":{"has":bool}}."""
        coll = self.partition_request(st, db, req)
        return {"code": 0, "data": {"has": req["partitionName"] in coll["partitions"]}}

ROUTES = {
    "/collections/create": Handler.create, "/collections/describe": Handler.describe,
    "/collections/list": Handler.list, "/collections/drop": Handler.drop,
    "/entities/insert": lambda h, st, db, req: h.write(st, db, req, upsert=False),
    "/entities/upsert": lambda h, st, db, req: h.write(st, db, req, upsert=True),
    "/entities/delete": Handler.delete, "/entities/query": Handler.query,
    "/partitions/create": Handler.create_partition, "/partitions/list": Handler.list_partitions,
    "/partitions/has": Handler.has_partition,
}

def main():
    ap = argparse.ArgumentParser(description="Stand-in Milvus REST v2 server for tests (not Milvus).")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--version", choices=["2.4", "2.5", "2.6", "3.0"], default="2.6")
    ap.add_argument("--token", help="require the header 'Authorization: Bearer TOKEN'")
    ap.add_argument("--accept-int64-default", choices=["true", "false"], default="true",
                    help="proxy.http.acceptTypeAllowInt64 (used when the header is absent or not a bool)")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.version, args.token, args.accept_int64_default == "true")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # SIGINT stops the server even when it was started with SIGINT ignored
    # (a background job of a non-interactive shell inherits SIG_IGN, and Python
    # then installs no handler of its own: the server ignored ^C and the
    # self-test waited for it forever).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0

if __name__ == "__main__":
    sys.exit(main())
