"""The conformance corpus's `ingest` cases sent over the wire, as the corpus contract's
`gateway` target: every `*.json` below tests/conformance and below each directory in
TELEMETRY_CONFORMANCE_DIR (':'-separated), in sorted path order, cases with op `ingest` whose
`targets` (if any) include `gateway`. Metadata + events go as one EventsPayload (or
RecordEvent); the NDJSON sink is read back and every published message compared with the
expected payload byte-for-byte, and the response with the expected succeededEvents."""

import json
import os
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from conftest import GOOD_TOKEN, REPO, pb, sams_args, stream

def corpus_cases():
    dirs = [REPO / "tests/conformance"]
    dirs += [Path(d) for d in os.environ.get("TELEMETRY_CONFORMANCE_DIR", "").split(":") if d]
    cases = []
    for d in dirs:
        for f in sorted(Path(d).rglob("*.json"), key=lambda p: str(p).encode()):
            doc = json.loads(f.read_text())
            for c in doc["cases"] if "cases" in doc else [doc]:
                if c.get("op") == "ingest" and "gateway" in c.get("targets", ["gateway"]):
                    cases.append(c)
    return cases


CASES = corpus_cases()
assert CASES, "no ingest case found in the corpus"


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, sams_server):
    """One gateway per oversize threshold the corpus uses."""
    from conftest import Gateway

    url, _ = sams_server
    made = {}

    def get(max_bytes):
        if max_bytes not in made:
            d = tmp_path_factory.mktemp(f"ingest-{max_bytes}")
            args = [*sams_args(url), "--insecure-accept-unverified-license-keys"]
            if max_bytes is not None:
                args += ["--testing-max-event-message-bytes", str(max_bytes)]
            made[max_bytes] = Gateway(d, args)
        return made[max_bytes]

    yield get
    for g in made.values():
        g.stop()


def parse(message_cls, value):
    return json_format.ParseDict(value, message_cls())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ingest_case_over_the_wire(gateways, case):
    inp, expect = case["input"], case["expect"]
    gw = gateways(inp.get("maxMessageBytes"))
    metadata = parse(pb.RecordEventsRequestMetadata, inp["metadata"])
    try:
        events = [parse(pb.Event, e) for e in inp["events"]]
    except json_format.ParseError as e:
        pytest.skip(f"event not representable by the Python protobuf runtime: {e}")
    auth = [("authorization", f"Bearer {GOOD_TOKEN}")]
    before = len(gw.sink_lines())
    managed = metadata.identifier.WhichOneof("identifier") == "managed_service"

    if inp.get("rpc") == "RecordEvent":
        assert len(events) == 1
        req = pb.RecordEventRequest(metadata=metadata, event=events[0])
        if not managed:
            # Over the wire, RecordEvent refuses Sourcegraph instances before any event rule.
            with pytest.raises(grpc.RpcError) as e:
                gw.stub.RecordEvent(req, timeout=30)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert gw.sink_lines()[before:] == []
            return
        result = expect["results"][0]
        if result["outcome"] in ("publish", "drop"):
            gw.stub.RecordEvent(req, metadata=auth, timeout=30)
        else:
            with pytest.raises(grpc.RpcError) as e:
                gw.stub.RecordEvent(req, metadata=auth, timeout=30)
            assert e.value.code() == grpc.StatusCode.INTERNAL
            assert e.value.details() == "failed to publish event: " + result["error"]
    else:
        reqs = [
            pb.RecordEventsRequest(metadata=metadata),
            pb.RecordEventsRequest(events=pb.RecordEventsRequest.EventsPayload(events=events)),
        ]
        responses = [list(r.succeeded_events) for r in gw.stub.RecordEvents(stream(*reqs), metadata=auth if managed else None, timeout=30)]
        assert responses == [expect["succeededEvents"]]

    published = gw.sink_lines()[before:]
    expected = [
        {"data": r["payload"], "attributes": r["attributes"]}
        for r in expect["results"]
        if r["outcome"] == "publish"
    ]
    key = lambda m: m["data"]  # noqa: E731 (publishes of one payload are concurrent)
    assert sorted(published, key=key) == sorted(expected, key=key)
