#!/usr/bin/env python3
"""Seeds the cargo-fuzz corpora from the repository's own inputs.

  fuzz/corpus/json_entry_points/      every conformance case input (tests/conformance), and the
                                      event, metadata and each of the events inside it
  fuzz/corpus/protobuf_entry_points/  the wire back-compat fixtures (tests/fixtures/backcompat),
                                      and every conformance event / metadata that the current
                                      schema accepts, encoded as Event, RecordEventsRequest
                                      (metadata and events payloads) and RecordEventRequest

Files are named by content hash (as libFuzzer does), so re-running adds nothing twice.
Needs `pip install grpcio-tools` for the protobuf seeds (skipped with a note without it).

Usage: python3 fuzz/seed.py
"""

import copy
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if os.path.exists(path):
        return 0
    with open(path, "wb") as f:
        f.write(data)
    return 1


def conformance_documents():
    for path in sorted(glob.glob(os.path.join(REPO, "tests", "conformance", "**", "*.json"), recursive=True)):
        with open(path) as f:
            doc = json.load(f)
        for case in doc.get("cases", []):
            inp = case.get("input", {})
            yield "input", inp
            for key in ("event", "metadata"):
                if key in inp:
                    yield key, inp[key]
            for e in inp.get("events", []) if isinstance(inp.get("events"), list) else []:
                yield "event", e


def current_schema():
    """Message classes of the current schema, or None without grpc_tools."""
    try:
        import grpc_tools
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        return None
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(REPO, "proto"), "-I", wkt,
             "--include_imports", "--descriptor_set_out=" + out,
             "telemetrygateway/v1/telemetrygateway.proto"],
            check=True,
        )
        with open(out, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName("telemetrygateway.v1." + name))


def main():
    added = {"json_entry_points": 0, "protobuf_entry_points": 0}
    docs = list(conformance_documents())
    for _, doc in docs:
        added["json_entry_points"] += write("json_entry_points", json.dumps(doc).encode())

    for path in sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "backcompat", "*", "*.pb"))):
        with open(path, "rb") as f:
            added["protobuf_entry_points"] += write("protobuf_entry_points", f.read())

    cls = current_schema()
    if cls is None:
        print("note: grpc_tools not installed; protobuf seeds from the conformance corpus skipped")
    else:
        from google.protobuf import json_format

        def parse(name, value):
            try:
                return json_format.ParseDict(copy.deepcopy(value), cls(name)())
            except Exception:  # hostile conformance inputs are meant not to parse
                return None

        for kind, doc in docs:
            if kind == "event":
                e = parse("Event", doc)
                if e is None:
                    continue
                req = cls("RecordEventsRequest")()
                req.events.events.append(e)
                one = cls("RecordEventRequest")(event=e)
                for m in (e, req, one):
                    added["protobuf_entry_points"] += write("protobuf_entry_points", m.SerializeToString(deterministic=True))
            elif kind == "metadata":
                m = parse("RecordEventsRequestMetadata", doc)
                if m is None:
                    continue
                req = cls("RecordEventsRequest")(metadata=m)
                one = cls("RecordEventRequest")(metadata=m)
                for msg in (req, one):
                    added["protobuf_entry_points"] += write("protobuf_entry_points", msg.SerializeToString(deterministic=True))
    for target, n in added.items():
        total = len(os.listdir(os.path.join(HERE, "corpus", target)))
        print("%s: %d new seeds, %d in corpus" % (target, n, total))


if __name__ == "__main__":
    main()
