#!/usr/bin/env python3
"""Stand-in Confluent Schema Registry for tests (Python standard library only).

THIS IS A TEST STAND-IN, NOT CONFLUENT SCHEMA REGISTRY. No Schema Registry server installs from the
package registries this project can use (PyPI has no Karapace distribution; npm has clients only;
Debian ships a Go client library; crates.io has clients only), so this fixture implements the part of
the REST API that confluent-kafka's Python serializers (AvroSerializer, ProtobufSerializer,
JSONSerializer with SchemaRegistryClient, confluent-kafka 2.12.1) and kmv-host use, from Confluent's
API reference: https://docs.confluent.io/platform/current/schema-registry/develop/api.html
(sections "Schemas", "Subjects", "Compatibility", "Config", "Mode", "Errors").

 endpoint                                          | answer
 --------------------------------------------------+--------------------------------------------------
 POST /subjects/{s}/versions  {schema, schemaType, | {"id": N}; the same schema (type, text, references) gets
      references}  (schemaType absent = AVRO)     |   the same id under every subject; 409 incompatible;
                                                   |   422 42201 invalid schema
 POST /subjects/{s}                                 | {subject, id, version, schema[, schemaType]}; 404 40401
                                                   |   subject not found, 40403 schema not found
 GET  /schemas/ids/{id}[?format=serialized]         | {schema[, schemaType][, references]}; 404 40403
 GET  /schemas/ids/{id}/versions, /subjects         | [{subject, version}], [subject]
 GET  /schemas/types                               | ["JSON", "PROTOBUF", "AVRO"]
 GET  /subjects, /subjects/{s}/versions            | [subject], [version]; 404 40401
 GET  /subjects/{s}/versions/{v|latest|-1}[/schema]| {subject, id, version, schema[, schemaType][, references]};
                                                   |   404 40401 / 40402 version not found
 DELETE /subjects/{s}[/versions/{v}]               | [versions] / version
 POST /compatibility/subjects/{s}/versions/{v}      | {"is_compatible": bool[, "messages": [...]]}
 GET/PUT /config[/{s}]                              | {"compatibilityLevel": L} / {"compatibility": L}; 404 40408
 GET/PUT /mode                                      | {"mode": "READWRITE"}
 errors                                            | {"error_code": N, "message": "..."}, content type
                                                   |   application/vnd.schemaregistry.v1+json

What the real registry does and this one therefore does too: Avro and JSON schemas are stored in
compact form (so the same schema with other whitespace is the same schema); a Protobuf schema
registered as a base64 FileDescriptorProto (what the Python ProtobufSerializer sends) is stored and
served as .proto text, and as the base64 descriptor with ?format=serialized; schema ids are global.

Stand-in choices: state is in memory only; compatibility is checked for Avro only (BACKWARD, FORWARD,
FULL and their _TRANSITIVE forms, NONE; by Avro's schema-resolution rules, simplified: record
fields by name, defaults, type promotions, unions, enums), Protobuf and JSON schemas are always
compatible; Protobuf text is rendered from the descriptor for proto2/proto3 messages, enums, oneofs,
maps and nested types (no services, options or extensions); deleted schemas are forgotten.
Optional --basic-auth USER:PASSWORD or --bearer TOKEN makes every request need that Authorization.
"""

import argparse
import base64
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---------------------------------------------------------------------------------------------
# Protobuf: FileDescriptorProto (wire format) -> .proto text
# ---------------------------------------------------------------------------------------------

def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _message(buf, strings=(), repeated=(), messages=None):
    """Decodes the fields of interest: `strings` (field numbers of strings), `repeated` (numbers
    that repeat), `messages` {number: decoder}; other varints as ints."""
    messages = messages or {}
    out = {}
    for number, wire, value in _fields(buf):
        if number in messages:
            value = messages[number](value)
        elif number in strings:
            value = value.decode("utf-8")
        if number in repeated:
            out.setdefault(number, []).append(value)
        else:
            out[number] = value
    return out


def _enum_value(buf):
    return _message(buf, strings={1})


def _enum(buf):
    return _message(buf, strings={1}, repeated={2}, messages={2: _enum_value})


def _field(buf):
    return _message(buf, strings={1, 6, 2, 7, 10})


def _msg(buf):
    return _message(
        buf,
        strings={1},
        repeated={2, 3, 4, 8},
        messages={2: _field, 3: _msg, 4: _enum, 8: lambda b: _message(b, strings={1}), 7: lambda b: _message(b)},
    )


def _file(buf):
    return _message(buf, strings={1, 2, 3, 12}, repeated={3, 4, 5}, messages={4: _msg, 5: _enum})


SCALARS = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
           8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
           17: "sint32", 18: "sint64"}


def _type_name(f):
    t = f.get(5)
    if t in SCALARS:
        return SCALARS[t]
    return f.get(6, "")  # fully qualified (".pkg.Msg"), valid in .proto text


def _render_enum(e, indent):
    pad = "  " * indent
    lines = [f"{pad}enum {e[1]} {{"]
    for v in e.get(2, []):
        lines.append(f"{pad}  {v[1]} = {v.get(2, 0)};")
    lines.append(f"{pad}}}")
    return lines


def _render_message(m, indent, proto3):
    pad = "  " * indent
    lines = [f"{pad}message {m[1]} {{"]
    maps = {}
    for nested in m.get(3, []):
        if nested.get(7, {}).get(7):  # MessageOptions.map_entry
            key = next(f for f in nested.get(2, []) if f.get(3) == 1)
            val = next(f for f in nested.get(2, []) if f.get(3) == 2)
            maps[nested[1]] = f"map<{_type_name(key)}, {_type_name(val)}>"
    oneofs = [o.get(1) for o in m.get(8, [])]
    synthetic = {f.get(9) for f in m.get(2, []) if f.get(17)}
    in_oneof = {}
    for f in m.get(2, []):
        idx = f.get(9)
        if idx is not None and idx not in synthetic:
            in_oneof.setdefault(idx, []).append(f)
    done_oneofs = set()
    for f in m.get(2, []):
        idx = f.get(9)
        if idx is not None and idx not in synthetic:
            if idx in done_oneofs:
                continue
            done_oneofs.add(idx)
            lines.append(f"{pad}  oneof {oneofs[idx]} {{")
            for of in in_oneof[idx]:
                lines.append(f"{pad}    {_type_name(of)} {of[1]} = {of[3]};")
            lines.append(f"{pad}  }}")
            continue
        type_name = _type_name(f)
        short = type_name.rsplit(".", 1)[-1]
        label = f.get(4, 1)
        if f.get(5) == 11 and short in maps and label == 3:
            lines.append(f"{pad}  {maps[short]} {f[1]} = {f[3]};")
            continue
        prefix = ""
        if label == 3:
            prefix = "repeated "
        elif label == 2:
            prefix = "required "
        elif not proto3 or f.get(17):
            prefix = "optional "
        lines.append(f"{pad}  {prefix}{type_name} {f[1]} = {f[3]};")
    for nested in m.get(3, []):
        if not nested.get(7, {}).get(7):
            lines.extend(_render_message(nested, indent + 1, proto3))
    for e in m.get(4, []):
        lines.extend(_render_enum(e, indent + 1))
    lines.append(f"{pad}}}")
    return lines


def descriptor_to_proto(serialized):
    """.proto text of a serialized FileDescriptorProto."""
    fd = _file(serialized)
    syntax = fd.get(12) or "proto2"
    lines = [f'syntax = "{syntax}";']
    if fd.get(2):
        lines.append(f"package {fd[2]};")
    for dep in fd.get(3, []):
        lines.append(f'import "{dep}";')
    lines.append("")
    for m in fd.get(4, []):
        lines.extend(_render_message(m, 0, syntax == "proto3"))
    for e in fd.get(5, []):
        lines.extend(_render_enum(e, 0))
    return "\n".join(lines) + "\n"


def _looks_like_descriptor(text):
    try:
        raw = base64.b64decode(text, validate=True)
        fd = _file(raw)
        return raw if 1 in fd or 4 in fd else None
    except Exception:  # noqa: BLE001 - anything that does not decode is not a descriptor
        return None


# ---------------------------------------------------------------------------------------------
# Avro compatibility (schema resolution, simplified)
# ---------------------------------------------------------------------------------------------

PROMOTIONS = {("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"),
              ("long", "double"), ("float", "double"), ("string", "bytes"), ("bytes", "string")}


def _named_types(schema, names, namespace=""):
    if isinstance(schema, list):
        for s in schema:
            _named_types(s, names, namespace)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            name = schema["name"]
            full = name if "." in name or not ns else f"{ns}.{name}"
            names[full] = schema
            names.setdefault(name, schema)
            for f in schema.get("fields", []):
                _named_types(f["type"], names, ns)
        elif t == "array":
            _named_types(schema["items"], names, namespace)
        elif t == "map":
            _named_types(schema["values"], names, namespace)
        elif isinstance(t, (dict, list)):
            _named_types(t, names, namespace)


def _resolve(s, names):
    if isinstance(s, str) and s in names:
        return names[s]
    if isinstance(s, dict) and isinstance(s.get("type"), (dict, list)) and len(s) == 1:
        return s["type"]
    return s


def _kind(s):
    if isinstance(s, list):
        return "union"
    if isinstance(s, dict):
        t = s.get("type")
        return t if isinstance(t, str) else _kind(t)
    return s


def _can_read(reader, writer, rnames, wnames, path, seen):
    """Messages saying why `reader` cannot read data written with `writer` (empty: it can)."""
    reader, writer = _resolve(reader, rnames), _resolve(writer, wnames)
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        out = []
        for branch in writer:
            out += _can_read(reader, branch, rnames, wnames, path, seen)
        return out
    if rk == "union":
        for branch in reader:
            if not _can_read(branch, writer, rnames, wnames, path, seen):
                return []
        return [f"{path}: reader union has no branch for writer type {wk}"]
    if rk != wk:
        if (wk, rk) in PROMOTIONS:
            return []
        return [f"{path}: reader type {rk} cannot read writer type {wk}"]
    if rk == "record":
        key = (id(reader), id(writer))
        if key in seen:
            return []
        seen.add(key)
        out = []
        wfields = {f["name"]: f for f in writer.get("fields", [])}
        for f in reader.get("fields", []):
            names = [f["name"]] + f.get("aliases", [])
            wf = next((wfields[n] for n in names if n in wfields), None)
            if wf is None:
                if "default" not in f:
                    out.append(f"{path}.{f['name']}: reader field has no default and the writer lacks it")
            else:
                out += _can_read(f["type"], wf["type"], rnames, wnames, f"{path}.{f['name']}", seen)
        return out
    if rk == "enum":
        missing = set(writer.get("symbols", [])) - set(reader.get("symbols", []))
        if missing and "default" not in reader:
            return [f"{path}: reader enum lacks symbols {sorted(missing)}"]
        return []
    if rk == "array":
        return _can_read(reader["items"], writer["items"], rnames, wnames, f"{path}[]", seen)
    if rk == "map":
        return _can_read(reader["values"], writer["values"], rnames, wnames, f"{path}{{}}", seen)
    if rk == "fixed" and reader.get("size") != writer.get("size"):
        return [f"{path}: fixed sizes differ"]
    return []


def avro_incompatibilities(new_text, old_texts, level):
    """Messages saying why the new Avro schema breaks `level` against the old ones."""
    if level == "NONE":
        return []
    if not level.endswith("_TRANSITIVE"):
        old_texts = old_texts[-1:]
    new = json.loads(new_text)
    nnames = {}
    _named_types(new, nnames)
    out = []
    for old_text in old_texts:
        old = json.loads(old_text)
        onames = {}
        _named_types(old, onames)
        if level.startswith(("BACKWARD", "FULL")):
            out += _can_read(new, old, nnames, onames, "", set())
        if level.startswith(("FORWARD", "FULL")):
            out += _can_read(old, new, onames, nnames, "", set())
    return out


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------

class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.schemas = {}  # id -> {"schema", "schemaType", "references", "serialized"}
        self.subjects = {}  # subject -> [(version, id)]
        self.next_id = 1
        self.global_level = "BACKWARD"
        self.subject_level = {}

    @staticmethod
    def canonical(body):
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise ApiError(422, 42201, "Either the input schema or one its references is invalid")
        kind = body.get("schemaType") or "AVRO"
        if kind not in ("AVRO", "PROTOBUF", "JSON"):
            raise ApiError(422, 42201, f"Invalid schema type {kind}")
        text = body["schema"]
        serialized = None
        if kind in ("AVRO", "JSON"):
            try:
                text = json.dumps(json.loads(text), separators=(",", ":"))
            except ValueError as e:
                raise ApiError(422, 42201, f"Invalid schema: {e}") from None
        else:
            raw = _looks_like_descriptor(text)
            if raw is not None:
                serialized = base64.b64encode(raw).decode("ascii")
                text = descriptor_to_proto(raw)
            elif "message" not in text and "enum" not in text:
                raise ApiError(422, 42201, "Invalid schema: not .proto text nor a FileDescriptorProto")
        refs = [{"name": r["name"], "subject": r["subject"], "version": int(r["version"])}
                for r in body.get("references") or []]
        return {"schema": text, "schemaType": kind, "references": refs, "serialized": serialized}

    def _same(self, a, b):
        return (a["schemaType"], a["schema"], a["references"]) == (b["schemaType"], b["schema"], b["references"])

    def find_id(self, entry):
        for sid, e in self.schemas.items():
            if self._same(e, entry):
                return sid
        return None

    def versions(self, subject):
        if subject not in self.subjects:
            raise ApiError(404, 40401, f"Subject '{subject}' not found.")
        return self.subjects[subject]

    def version(self, subject, v):
        versions = self.versions(subject)
        if v in ("latest", "-1"):
            return versions[-1]
        try:
            n = int(v)
        except ValueError:
            raise ApiError(422, 42202, "The specified version is not a valid version id.") from None
        for pair in versions:
            if pair[0] == n:
                return pair
        raise ApiError(404, 40402, f"Version {v} not found.")

    def level(self, subject):
        return self.subject_level.get(subject, self.global_level)

    def register(self, subject, body):
        entry = self.canonical(body)
        with self.lock:
            for _, sid in self.subjects.get(subject, []):
                if self._same(self.schemas[sid], entry):
                    return {"id": sid}
            olds = [self.schemas[sid] for _, sid in self.subjects.get(subject, [])]
            problems = self.incompatibilities(entry, olds, self.level(subject))
            if problems:
                raise ApiError(409, 409, "Schema being registered is incompatible with an earlier schema for "
                               f"subject \"{subject}\", details: {problems}")
            sid = self.find_id(entry)
            if sid is None:
                sid = self.next_id
                self.next_id += 1
                self.schemas[sid] = entry
            versions = self.subjects.setdefault(subject, [])
            versions.append(((versions[-1][0] + 1) if versions else 1, sid))
            return {"id": sid}

    @staticmethod
    def incompatibilities(entry, olds, level):
        olds = [o for o in olds if o["schemaType"] == entry["schemaType"]]
        if entry["schemaType"] != "AVRO" or not olds:
            return []
        return avro_incompatibilities(entry["schema"], [o["schema"] for o in olds], level)

    def describe(self, subject, version, sid, fmt=None):
        e = self.schemas[sid]
        out = {"subject": subject, "version": version, "id": sid}
        out.update(self.schema_body(e, fmt))
        return out

    @staticmethod
    def schema_body(e, fmt=None):
        text = e["schema"]
        if fmt == "serialized" and e["serialized"] is not None:
            text = e["serialized"]
        out = {"schema": text}
        if e["schemaType"] != "AVRO":
            out["schemaType"] = e["schemaType"]
        if e["references"]:
            out["references"] = e["references"]
        return out


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Store = None
    auth = None
    quiet = False

    def log_message(self, fmt, *args):  # noqa: D401 - http.server's hook
        if not self.quiet:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(422, 42201, "Unrecognized request body: not JSON") from None

    def _handle(self, method):
        try:
            if self.auth is not None and self.headers.get("Authorization") != self.auth:
                raise ApiError(401, 401, "Unauthorized")
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self._body() if method in ("POST", "PUT") else None
            self._send(200, self.route(method, parts, query, body))
        except ApiError as e:
            self._send(e.status, {"error_code": e.code, "message": e.message})
        except Exception as e:  # noqa: BLE001 - a bug here is a 500, as the real one answers
            self._send(500, {"error_code": 50001, "message": f"stand-in error: {e!r}"})

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")

    def route(self, method, p, q, body):
        s = self.store
        n = len(p)
        if p == [] and method == "GET":
            return {}
        if p[:1] == ["schemas"]:
            if p == ["schemas", "types"] and method == "GET":
                return ["JSON", "PROTOBUF", "AVRO"]
            if n >= 3 and p[1] == "ids" and method == "GET":
                try:
                    sid = int(p[2])
                except ValueError:
                    raise ApiError(404, 40403, f"Schema {p[2]} not found") from None
                with s.lock:
                    if sid not in s.schemas:
                        raise ApiError(404, 40403, f"Schema {sid} not found")
                    uses = [(subj, v) for subj, vs in s.subjects.items() for v, i in vs if i == sid]
                    if n == 3:
                        return s.schema_body(s.schemas[sid], q.get("format"))
                    if p[3:] == ["versions"]:
                        return [{"subject": subj, "version": v} for subj, v in uses]
                    if p[3:] == ["subjects"]:
                        return sorted({subj for subj, _ in uses})
                    if p[3:] == ["schema"]:
                        return json.loads(s.schemas[sid]["schema"]) if s.schemas[sid]["schemaType"] != "PROTOBUF" \
                            else s.schemas[sid]["schema"]
        if p[:1] == ["subjects"]:
            if n == 1 and method == "GET":
                with s.lock:
                    return sorted(s.subjects)
            subject = p[1] if n > 1 else None
            if n == 2 and method == "POST":
                entry = s.canonical(body)
                with s.lock:
                    for v, sid in s.versions(subject):
                        if s._same(s.schemas[sid], entry):
                            return s.describe(subject, v, sid, q.get("format"))
                raise ApiError(404, 40403, "Schema not found")
            if n == 2 and method == "DELETE":
                with s.lock:
                    versions = s.versions(subject)
                    del s.subjects[subject]
                    return [v for v, _ in versions]
            if n == 3 and p[2] == "versions":
                if method == "GET":
                    with s.lock:
                        return [v for v, _ in s.versions(subject)]
                if method == "POST":
                    return s.register(subject, body)
            if n >= 4 and p[2] == "versions":
                with s.lock:
                    v, sid = s.version(subject, p[3])
                    if method == "DELETE" and n == 4:
                        s.subjects[subject] = [pair for pair in s.subjects[subject] if pair[0] != v]
                        if not s.subjects[subject]:
                            del s.subjects[subject]
                        return v
                    if method == "GET" and n == 4:
                        return s.describe(subject, v, sid, q.get("format"))
                    if method == "GET" and p[4:] == ["schema"]:
                        return s.schemas[sid]["schema"]
        if p[:2] == ["compatibility", "subjects"] and n >= 3 and method == "POST":
            subject = p[2]
            entry = s.canonical(body)
            with s.lock:
                if n == 5 and p[3] == "versions":
                    versions = s.versions(subject)
                    _, sid = s.version(subject, p[4])
                    olds = [s.schemas[i] for _, i in versions if _ <= s.version(subject, p[4])[0]]
                    if not s.level(subject).endswith("_TRANSITIVE"):
                        olds = [s.schemas[sid]]
                else:
                    olds = [s.schemas[i] for _, i in s.subjects.get(subject, [])]
                problems = s.incompatibilities(entry, olds, s.level(subject))
            out = {"is_compatible": not problems}
            if q.get("verbose") == "true":
                out["messages"] = problems
            return out
        if p[:1] == ["config"]:
            subject = p[1] if n > 1 else None
            if method == "GET":
                with s.lock:
                    if subject is None:
                        return {"compatibilityLevel": s.global_level}
                    if subject in s.subject_level:
                        return {"compatibilityLevel": s.subject_level[subject]}
                    if q.get("defaultToGlobal") == "true":
                        return {"compatibilityLevel": s.global_level}
                raise ApiError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")
            if method == "PUT":
                level = (body or {}).get("compatibility")
                if level not in LEVELS:
                    raise ApiError(422, 42203, "Invalid compatibility level")
                with s.lock:
                    if subject is None:
                        s.global_level = level
                    else:
                        s.subject_level[subject] = level
                return {"compatibility": level}
            if method == "DELETE" and subject is not None:
                with s.lock:
                    level = s.subject_level.pop(subject, s.global_level)
                return {"compatibilityLevel": level}
        if p[:1] == ["mode"]:
            if method == "GET":
                return {"mode": "READWRITE"}
            if method == "PUT":
                return {"mode": (body or {}).get("mode", "READWRITE")}
        raise ApiError(404, 404, "HTTP 404 Not Found")


def main():
    ap = argparse.ArgumentParser(description="Stand-in Confluent Schema Registry for tests (see the module docstring).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--basic-auth", metavar="USER:PASSWORD")
    ap.add_argument("--bearer", metavar="TOKEN")
    ap.add_argument("--quiet", action="store_true", help="no request log")
    args = ap.parse_args()
    Handler.store = Store()
    Handler.quiet = args.quiet
    if args.basic_auth:
        Handler.auth = "Basic " + base64.b64encode(args.basic_auth.encode()).decode()
    elif args.bearer:
        Handler.auth = "Bearer " + args.bearer
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"schema registry stand-in listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
