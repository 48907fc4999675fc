#!/usr/bin/env python3
"""Rewrite the `expect` of every translate/ingest case in tests/conformance from the Go oracle.

Also normalizes the `expect.event` of redact/record cases through a Go protojson round-trip
(so hand-written events are in canonical proto3 JSON: empty scalars omitted, canonical
timestamps) and prints every case whose expectation changed.

Usage: regen.py <go-oracle binary> <descriptor set> <conformance dir>
"""
import glob, json, os, subprocess, sys

oracle, desc, root = sys.argv[1:4]

def load(path):
    with open(path) as f:
        return json.load(f)

def dump(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=True)
        f.write("\n")

jobs = []  # (path, case index, kind)
requests = []
docs = {}
for path in sorted(glob.glob(os.path.join(root, "**", "*.json"), recursive=True)):
    doc = load(path)
    docs[path] = doc
    for i, c in enumerate(doc.get("cases", [doc])):
        op = c.get("op")
        if op in ("translate", "ingest"):
            jobs.append((path, i, "full"))
            requests.append({"op": op, "input": c["input"]})
        elif op in ("redact", "record") and "event" in c.get("expect", {}):
            jobs.append((path, i, "canon"))
            requests.append({"op": "canon", "input": {"event": c["expect"]["event"]}})

stdin = "".join(json.dumps(r) + "\n" for r in requests)
proc = subprocess.run([oracle, "-desc", desc], input=stdin, capture_output=True, text=True)
if proc.returncode != 0:
    sys.exit("go-oracle failed: " + proc.stderr)
answers = [json.loads(l) for l in proc.stdout.split("\n") if l]
assert len(answers) == len(jobs), (len(answers), len(jobs))

changed = 0
for (path, i, kind), ans in zip(jobs, answers):
    cases = docs[path].get("cases", [docs[path]])
    c = cases[i]
    if kind == "full":
        new = {k: v for k, v in ans.items() if not k.startswith("_")}
        if "_detail" in ans:
            print("  note %s: %s" % (c["name"], ans["_detail"]))
    else:
        if "error" in ans:
            sys.exit("%s: expected event does not parse: %s" % (c["name"], ans.get("_detail")))
        new = dict(c["expect"], event=ans["event"])
    if new != c["expect"]:
        changed += 1
        print("updated %s" % c["name"])
        c["expect"] = new

for path, doc in docs.items():
    dump(path, doc)
print("%d case expectations computed/checked, %d changed" % (len(jobs), changed))
