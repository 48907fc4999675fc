#!/usr/bin/env python3
"""Sanity-checks the conformance corpus: every file parses, every case is well-formed, names are
unique across the corpus, and each op's expect has an allowed shape. Prints the count per op."""
import collections, glob, json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
OPS = {
    "validate": ({"event"}, [{"ok"}, {"error"}]),
    "redact": ({"event", "policy"}, [{"event"}, {"error"}]),
    "translate": ({"metadata", "event", "maxMessageBytes"}, [{"payload", "attributes"}, {"dropped"}, {"error"}]),
    "ingest": ({"metadata", "events", "rpc", "maxMessageBytes"}, [{"results", "succeededEvents"}]),
    "record": ({"event", "context"}, [{"event"}, {"error"}]),
}
errors, names, counts = [], {}, collections.Counter()
for path in sorted(glob.glob(os.path.join(root, "**", "*.json"), recursive=True)):
    rel = os.path.relpath(path, root)
    try:
        with open(path) as f:
            doc = json.load(f)
    except ValueError as e:
        errors.append("%s: does not parse: %s" % (rel, e))
        continue
    cases = doc["cases"] if isinstance(doc, dict) and "cases" in doc else [doc]
    for c in cases:
        name, op = c.get("name"), c.get("op")
        where = "%s: %s" % (rel, name)
        if not isinstance(name, str) or not name:
            errors.append("%s: case without name" % rel)
            continue
        if name in names:
            errors.append("%s: duplicate name (also in %s)" % (where, names[name]))
        names[name] = rel
        if op not in OPS:
            errors.append("%s: unknown op %r" % (where, op))
            continue
        if not name.startswith(op + "/"):
            errors.append("%s: name should start with %r" % (where, op + "/"))
        if rel.split(os.sep)[0] != op:
            errors.append("%s: op %s in folder %s" % (where, op, rel.split(os.sep)[0]))
        extra = set(c) - {"name", "op", "input", "expect", "description", "targets"}
        if extra:
            errors.append("%s: unknown case keys %s" % (where, sorted(extra)))
        inputs, shapes = OPS[op]
        if not isinstance(c.get("input"), dict) or set(c["input"]) - inputs:
            errors.append("%s: bad input keys" % where)
        if not isinstance(c.get("expect"), dict) or set(c["expect"]) not in shapes:
            errors.append("%s: bad expect shape %s" % (where, sorted(c.get("expect") or {})))
        if op == "ingest" and isinstance(c.get("expect"), dict):
            for r in c["expect"].get("results", []):
                ok = {"publish": {"id", "outcome", "payload", "attributes"},
                      "reject": {"id", "outcome", "retryable", "error"},
                      "drop": {"id", "outcome", "error"}}.get(r.get("outcome"))
                if ok is None or set(r) != ok:
                    errors.append("%s: bad ingest result %s" % (where, sorted(r)))
        counts[op] += 1
for e in errors:
    print("ERROR", e)
for op in OPS:
    print("%-10s %4d" % (op, counts[op]))
print("%-10s %4d" % ("total", sum(counts.values())))
sys.exit(1 if errors or not counts else 0)
