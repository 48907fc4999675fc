"""Licensed instances over the wire: keys issued by `telemetry-gateway license create` from
ssh-keygen keys, verified by a gateway started with --license-public-keys."""

import json
import shutil
import subprocess

import grpc
import pytest

from conftest import ev_req, event, gateway_bin, md_req, pb, stream


def keygen(path, kind):
    args = ["ssh-keygen", "-q", "-N", "", "-t", kind, "-f", str(path)]
    if kind == "rsa":
        args += ["-b", "2048"]
    subprocess.run(args, check=True)


def create(private, *extra):
    out = subprocess.run(
        [gateway_bin(), "license", "create", "--private-key", str(private), "--users", "10",
         "--salesforce-subscription-id", "sub-9", *extra],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_licensed_instances(make_gateway, tmp_path):
    keygen(tmp_path / "rsa", "rsa")
    keygen(tmp_path / "ed", "ed25519")
    keygen(tmp_path / "untrusted", "ed25519")
    gw = make_gateway("--license-public-keys", f"{tmp_path / 'rsa.pub'},{tmp_path / 'ed.pub'}")

    keys = [
        create(tmp_path / "rsa", "--rsa-format", "ssh-rsa"),
        create(tmp_path / "rsa", "--rsa-format", "rsa-sha2-256"),
        create(tmp_path / "rsa"),
        create(tmp_path / "ed"),
    ]
    for i, key in enumerate(keys):
        md = pb.RecordEventsRequestMetadata(
            request_id=f"lic-{i}",
            identifier=pb.Identifier(licensed_instance=pb.Identifier.LicensedInstanceIdentifier(license_key=key, instance_id="i")),
        )
        responses = [list(r.succeeded_events) for r in gw.stub.RecordEvents(stream(md_req(md), ev_req([event(f"l{i}")])), timeout=30)]
        assert responses == [[f"l{i}"]]
    lines = gw.sink_lines()
    assert [l["attributes"]["publisher.source"] for l in lines] == ["licensed_instance"] * 4
    # The whole metadata (license key included) is published, as upstream.
    assert json.loads(lines[0]["data"])["metadata"]["identifier"]["licensedInstance"]["licenseKey"] == keys[0]

    bad = create(tmp_path / "untrusted")
    md = pb.RecordEventsRequestMetadata(
        identifier=pb.Identifier(licensed_instance=pb.Identifier.LicensedInstanceIdentifier(license_key=bad)),
    )
    with pytest.raises(grpc.RpcError) as e:
        list(gw.stub.RecordEvents(stream(md_req(md), ev_req([event("x")])), timeout=30))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "invalid license_key: ssh: signature did not verify"

    inspected = subprocess.run(
        [gateway_bin(), "license", "inspect", keys[3], "--public-keys", str(tmp_path / "ed.pub")],
        check=True, capture_output=True, text=True,
    ).stdout
    info = json.loads(inspected)
    assert info["verified"] is True and info["signatureFormat"] == "ssh-ed25519"
    assert info["info"]["u"] == 10 and info["info"]["sf_sub_id"] == "sub-9"
