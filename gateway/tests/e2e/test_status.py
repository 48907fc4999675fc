"""Every gRPC status path of RecordEvents and RecordEvent, over the wire (reference §2)."""

import base64
import json
import time

import grpc
import pytest

from conftest import (
    FAIL_TOKEN,
    GOOD_TOKEN,
    INACTIVE_TOKEN,
    NO_SCOPE_TOKEN,
    PREFIX_SCOPE_TOKEN,
    ev_req,
    event,
    managed_metadata,
    md_req,
    pb,
    sams_args,
    stream,
    unlicensed_metadata,
)


def call_stream(gw, *messages, metadata=None):
    """Runs a RecordEvents stream; returns (responses, error or None)."""
    responses = []
    try:
        for r in gw.stub.RecordEvents(stream(*messages), metadata=metadata, timeout=30):
            responses.append(list(r.succeeded_events))
    except grpc.RpcError as e:
        return responses, e
    return responses, None


def assert_status(err, code, message=None, prefix=None):
    assert err is not None, "expected an error status"
    assert err.code() == code, (err.code(), err.details())
    if message is not None:
        assert err.details() == message
    if prefix is not None:
        assert err.details().startswith(prefix), err.details()


@pytest.fixture
def gw(make_gateway, sams_server):
    url, _ = sams_server
    return make_gateway(*sams_args(url))


def test_events_before_metadata(gw):
    _, err = call_stream(gw, ev_req([event(1)]))
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "got events when metadata not yet received")


def test_metadata_twice(gw):
    _, err = call_stream(gw, md_req(unlicensed_metadata()), md_req(unlicensed_metadata()))
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "received metadata more than once")


def test_metadata_twice_after_events_answers_first_payload(gw):
    responses, err = call_stream(gw, md_req(unlicensed_metadata()), ev_req([event(1)]), md_req(unlicensed_metadata()))
    assert responses == [["1"]]
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "received metadata more than once")


def test_no_identifier_is_unimplemented(gw):
    _, err = call_stream(gw, md_req(pb.RecordEventsRequestMetadata(request_id="r")))
    assert_status(err, grpc.StatusCode.UNIMPLEMENTED, "unsupported identifier type")


def test_empty_identifier_is_unimplemented(gw):
    _, err = call_stream(gw, md_req(pb.RecordEventsRequestMetadata(request_id="r", identifier=pb.Identifier())))
    assert_status(err, grpc.StatusCode.UNIMPLEMENTED, "unsupported identifier type")


def test_unlicensed_requires_instance_id(gw):
    _, err = call_stream(gw, md_req(unlicensed_metadata(instance_id="")))
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "instance_id is required for unlicensed instance")


def test_managed_requires_service_id(gw):
    _, err = call_stream(gw, md_req(managed_metadata(service_id="")), metadata=[("authorization", f"Bearer {GOOD_TOKEN}")])
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "service_id is required for managed services")


def licensed(key):
    return pb.RecordEventsRequestMetadata(
        request_id="r",
        identifier=pb.Identifier(licensed_instance=pb.Identifier.LicensedInstanceIdentifier(license_key=key)),
    )


@pytest.mark.parametrize(
    "key",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode().rstrip("="),
        base64.urlsafe_b64encode(json.dumps({"info": "e30="}).encode()).decode().rstrip("="),
        "eyJzaWciOnsiRm9ybWF0Ijoic3NoLXJzYSJ9fQ",  # {"sig":{"Format":"ssh-rsa"}}: no info
        "",
    ],
)
def test_invalid_license_key(gw, key):
    _, err = call_stream(gw, md_req(licensed(key)))
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, prefix="invalid license_key: ")


@pytest.mark.parametrize(
    "auth,code,message",
    [
        (None, grpc.StatusCode.UNAUTHENTICATED, "no token header value"),
        ("", grpc.StatusCode.UNAUTHENTICATED, "no token header value"),
        ("Bearer", grpc.StatusCode.UNAUTHENTICATED, "invalid token header: token type missing in Authorization header"),
        ("Basic abc", grpc.StatusCode.UNAUTHENTICATED, "invalid token header: invalid token type Basic in Authorization header"),
        (f"Bearer {INACTIVE_TOKEN}", grpc.StatusCode.PERMISSION_DENIED, "permission denied"),
        (f"Bearer {NO_SCOPE_TOKEN}", grpc.StatusCode.PERMISSION_DENIED, "permission denied"),
        (f"Bearer {PREFIX_SCOPE_TOKEN}", grpc.StatusCode.PERMISSION_DENIED, "permission denied"),
        (f"Bearer {FAIL_TOKEN}", grpc.StatusCode.INTERNAL, "unable to validate token"),
    ],
)
def test_managed_service_auth_failures(gw, auth, code, message):
    md = None if auth is None else [("authorization", auth)]
    _, err = call_stream(gw, md_req(managed_metadata()), ev_req([event(1)]), metadata=md)
    assert_status(err, code, message)
    req = pb.RecordEventRequest(metadata=managed_metadata(), event=event(1))
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(req, metadata=md, timeout=10)
    assert_status(e.value, code, message)
    assert gw.sink_lines() == []


def test_managed_service_bearer_scheme_case_insensitive(gw, sams_server):
    _, requests = sams_server
    before = len(requests)
    responses, err = call_stream(gw, md_req(managed_metadata()), ev_req([event(1)]), metadata=[("authorization", f"bEaReR {GOOD_TOKEN}")])
    assert err is None and responses == [["1"]]
    req = requests[before]
    assert req["path"] == "/oauth/introspect"
    assert req["body"] == f"token={GOOD_TOKEN}"
    assert req["ctype"] == "application/x-www-form-urlencoded"
    assert req["auth"] == "Basic " + base64.b64encode(b"gw-client:gw-secret").decode()


def test_ok_stream_one_response_per_payload_including_empty(gw):
    responses, err = call_stream(
        gw,
        md_req(unlicensed_metadata()),
        ev_req([]),
        ev_req([event(1), event(2)]),
        pb.RecordEventsRequest(),  # payload unset: ignored
        ev_req([]),
        ev_req([event(3)]),
    )
    assert err is None
    assert responses == [[], ["1", "2"], [], ["3"]]
    assert sorted(json.loads(l["data"])["event"]["id"] for l in gw.sink_lines()) == ["1", "2", "3"]


def test_metadata_only_stream_is_ok(gw):
    responses, err = call_stream(gw, md_req(unlicensed_metadata()))
    assert err is None and responses == []


def test_partial_ack_instance_vs_managed(gw):
    bad = [event("bad-feature", feature="Bad"), pb.Event(id="no-ts", feature="a.b", action="cd")]
    good = [event("ok-1"), event("ok-2")]
    responses, err = call_stream(gw, md_req(unlicensed_metadata()), ev_req([good[0], *bad, good[1]]))
    assert err is None
    # Sourcegraph instances: non-retryable rejections are acknowledged so they stop retrying.
    assert responses == [["ok-1", "bad-feature", "no-ts", "ok-2"]]
    responses, err = call_stream(
        gw, md_req(managed_metadata()), ev_req([good[0], *bad, good[1]]), metadata=[("authorization", f"Bearer {GOOD_TOKEN}")]
    )
    assert err is None
    # Managed services see their rejections.
    assert responses == [["ok-1", "ok-2"]]


def test_client_sends_everything_before_reading(gw):
    n = 300
    msgs = [md_req(unlicensed_metadata())] + [ev_req([event(f"{i}-{j}") for j in range(5)]) for i in range(n)]
    call = gw.stub.RecordEvents(iter(msgs), timeout=60)
    time.sleep(1.0)  # read nothing for a while: the server must keep consuming requests
    responses = [list(r.succeeded_events) for r in call]
    assert len(responses) == n
    assert responses[7] == [f"7-{j}" for j in range(5)]


def test_large_message_accepted_and_oversized_event_acknowledged(gw):
    big = event("big")
    big.parameters.private_metadata.update({"blob": "x" * (20 * 1024 * 1024)})
    responses, err = call_stream(gw, md_req(unlicensed_metadata()), ev_req([big, event("small")]))
    assert err is None
    assert responses == [["big", "small"]]
    ids = [json.loads(l["data"])["event"]["id"] for l in gw.sink_lines()]
    assert ids == ["small"]


def test_refuse_unlicensed_option(make_gateway):
    gw = make_gateway("--refuse-unlicensed-instances")
    _, err = call_stream(gw, md_req(unlicensed_metadata()), ev_req([event(1)]))
    assert_status(err, grpc.StatusCode.PERMISSION_DENIED)


def test_licensed_refused_without_public_keys(make_gateway):
    gw = make_gateway()
    key = base64.urlsafe_b64encode(
        json.dumps({"sig": {"Format": "ssh-ed25519", "Blob": "AAAA", "Rest": None}, "info": "e30="}).encode()
    ).decode().rstrip("=")
    _, err = call_stream(gw, md_req(licensed(key)))
    assert_status(err, grpc.StatusCode.INVALID_ARGUMENT, "invalid license_key: no license public keys are configured")


# RecordEvent (unary)


def test_record_event_requires_event(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(pb.RecordEventRequest(metadata=managed_metadata()), timeout=10)
    assert_status(e.value, grpc.StatusCode.INVALID_ARGUMENT, "event is required")


def test_record_event_requires_metadata(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(pb.RecordEventRequest(event=event(1)), timeout=10)
    assert_status(e.value, grpc.StatusCode.INVALID_ARGUMENT, "metadata is required")


@pytest.mark.parametrize("metadata", [unlicensed_metadata(), unlicensed_metadata(instance_id=""), licensed("x"), pb.RecordEventsRequestMetadata()])
def test_record_event_only_managed_services(gw, metadata):
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(pb.RecordEventRequest(metadata=metadata, event=event(1)), timeout=10)
    assert_status(e.value, grpc.StatusCode.UNIMPLEMENTED, "unsupported identifier type")


def test_record_event_requires_service_id(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(pb.RecordEventRequest(metadata=managed_metadata(""), event=event(1)), timeout=10)
    assert_status(e.value, grpc.StatusCode.INVALID_ARGUMENT, "service_id is required for managed services")


def test_record_event_ok_and_invalid(gw):
    auth = [("authorization", f"Bearer {GOOD_TOKEN}")]
    gw.stub.RecordEvent(pb.RecordEventRequest(metadata=managed_metadata(), event=event("u1")), metadata=auth, timeout=10)
    lines = gw.sink_lines()
    assert len(lines) == 1
    assert lines[0]["attributes"]["publisher.source"] == "svc-1"
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(
            pb.RecordEventRequest(metadata=managed_metadata(), event=event("u2", feature="Bad")), metadata=auth, timeout=10
        )
    assert_status(
        e.value,
        grpc.StatusCode.INTERNAL,
        "failed to publish event: invalid event 'feature' or 'action': "
        "'feature' must start with a lowercase letter and contain only letters, dashes, and dots",
    )
    with pytest.raises(grpc.RpcError) as e:
        gw.stub.RecordEvent(pb.RecordEventRequest(metadata=managed_metadata(), event=pb.Event(feature="a.b", action="cd")), metadata=auth, timeout=10)
    assert_status(e.value, grpc.StatusCode.INTERNAL, "failed to publish event: event ID is required")
