"""Fault test: the sink fails on a share of publishes mid-stream (the test-only `fault:` sink).
An exporter-like client resends whatever was not acknowledged until everything is; in the end
every event is published at least once and none is lost."""

import json

from conftest import ev_req, event, md_req, stream, unlicensed_metadata


def test_sink_failures_are_not_acknowledged_and_retries_lose_nothing(make_gateway, tmp_path):
    sink_file = tmp_path / "faulty.ndjson"
    gw = make_gateway(sink=f"fault:0.3:file:{sink_file}")
    gw.sink_path = sink_file
    pending = [f"evt-{i}" for i in range(1000)]
    acked = set()
    attempts = 0
    while pending and attempts < 30:
        attempts += 1
        chunks = [pending[i : i + 100] for i in range(0, len(pending), 100)]
        msgs = [md_req(unlicensed_metadata(request_id=f"try-{attempts}"))] + [ev_req([event(i) for i in c]) for c in chunks]
        responses = [list(r.succeeded_events) for r in gw.stub.RecordEvents(stream(*msgs), timeout=60)]
        assert len(responses) == len(chunks)
        for chunk, resp in zip(chunks, responses):
            assert set(resp) <= set(chunk)
            acked.update(resp)
        if attempts == 1:
            assert 0 < len(acked) < len(pending), "the first pass must partially fail"
        pending = [i for i in pending if i not in acked]
    assert pending == []
    assert attempts > 1
    published = [json.loads(l["data"])["event"]["id"] for l in gw.sink_lines()]
    assert set(published) == {f"evt-{i}" for i in range(1000)}
    # Every acknowledged event is in the sink; nothing was published twice without a retry.
    assert len(published) == len(set(published))
