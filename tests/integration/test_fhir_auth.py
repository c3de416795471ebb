"""Auth to a sandbox FHIR server that requires it: Basic, static bearer, and SMART Backend Services with an RS384 or
ES384 key generated here (discovery, client assertion, token reuse and refresh before expiry)."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from rtletter.agent.errors import ChannelAuthError
from rtletter.agent.fhir.auth import AuthSettings, SmartBackendAuth, build_auth
from rtletter.agent.fhir.client import FhirClient
from rtletter.demo.sandbox import FhirSandbox

pytestmark = pytest.mark.integration


def new_key(alg: str) -> tuple[str, dict]:
    if alg == "RS384":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    else:
        key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"alg": alg, "kid": f"test-{alg}", "use": "sig"})
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, jwk


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, dict]]:
    return {alg: new_key(alg) for alg in ("RS384", "ES384")}


@pytest.fixture(scope="module")
def sandbox(keys, tmp_path_factory):  # type: ignore[no-untyped-def]
    # One key per client: sekmet-fhir 0.1.1 answers 500 when it tries an RSA key on an ES384 assertion.
    settings = {
        "server_auth": {
            "types": ["basic", "bearer", "smart"],
            "users": {"agent": "pw-1"},
            "tokens": ["static-token-1"],
            "smart_clients": [
                {"client_id": f"rtletter-{alg}", "jwks": {"keys": [jwk]}, "scopes": "system/*.*"}
                for alg, (_, jwk) in keys.items()
            ],
            "token_lifetime": 300,
        }
    }
    with FhirSandbox(tmp_path_factory.mktemp("sekmet-auth"), settings=settings) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_basic_and_bearer_auth(sandbox) -> None:  # type: ignore[no-untyped-def]
    for settings in (
        AuthSettings(kind="basic", username="agent", password="pw-1"),
        AuthSettings(kind="bearer", token="static-token-1"),
    ):
        with FhirClient(sandbox.base_url, auth=build_auth(settings, sandbox.base_url)) as client:
            assert client.search("Procedure", {"_count": "1"})["resourceType"] == "Bundle"
    with FhirClient(sandbox.base_url) as anonymous, pytest.raises(ChannelAuthError) as info:
        anonymous.search("Procedure", {})
    assert info.value.status == 401
    wrong = AuthSettings(kind="basic", username="agent", password="nope")
    with FhirClient(sandbox.base_url, auth=build_auth(wrong, sandbox.base_url)) as client:
        with pytest.raises(ChannelAuthError):
            client.search("Procedure", {})


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_backend_services_token_is_discovered_fetched_and_reused(sandbox, keys, alg: str) -> None:  # type: ignore[no-untyped-def]
    pem, jwk = keys[alg]
    auth = SmartBackendAuth(
        sandbox.base_url, f"rtletter-{alg}", pem, algorithm=alg, key_id=jwk["kid"], scope="system/*.rs system/*.cud"
    )
    with FhirClient(sandbox.base_url, auth=auth) as client:
        client.search("Procedure", {"_count": "1"})
        client.create({"resourceType": "Basic", "code": {"text": "auth check"}})
        assert auth.tokens_fetched == 1
        assert auth.token_url == f"{sandbox.root_url}/auth/token"  # from .well-known/smart-configuration
        assert client.round_trips == 4  # discovery, token, search, create
    assertion = jwt.decode(auth.client_assertion(auth.token_url), options={"verify_signature": False})
    assert assertion["iss"] == assertion["sub"] == f"rtletter-{alg}"
    assert assertion["aud"] == auth.token_url
    assert assertion["exp"] - time.time() <= 300
    assert jwt.get_unverified_header(auth.client_assertion(auth.token_url))["alg"] == alg


def test_smart_token_is_renewed_before_it_expires(sandbox, keys) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    auth = SmartBackendAuth(sandbox.base_url, "rtletter-RS384", keys["RS384"][0], clock=clock)
    with FhirClient(sandbox.base_url, auth=auth) as client:
        client.search("Procedure", {"_count": "1"})
        clock.now += 300 - 31  # the 300 s token has 31 s left: still used
        client.search("Procedure", {"_count": "1"})
        assert auth.tokens_fetched == 1
        clock.now += 2  # 29 s left: inside the 30 s margin, renewed before the request
        client.search("Procedure", {"_count": "1"})
        assert auth.tokens_fetched == 2


def test_an_unknown_smart_client_is_an_auth_error(sandbox, keys) -> None:  # type: ignore[no-untyped-def]
    auth = SmartBackendAuth(sandbox.base_url, "someone-else", keys["RS384"][0])
    with FhirClient(sandbox.base_url, auth=auth) as client, pytest.raises(ChannelAuthError) as info:
        client.search("Procedure", {})
    assert "invalid_client" in str(info.value)
    assert httpx.get(f"{sandbox.base_url}/metadata").status_code == 200


def test_the_default_smart_scope_reads_what_a_letter_needs_and_writes_only_the_draft_set(sandbox, keys) -> None:  # type: ignore[no-untyped-def]
    from rtletter.agent.config import SmartBackendAuth as SmartBackendSettings
    from rtletter.agent.fhir.auth import DEFAULT_SCOPE

    assert SmartBackendSettings.model_fields["scope"].default == DEFAULT_SCOPE  # config and client agree
    pem, jwk = keys["RS384"]
    settings = AuthSettings(kind="smart-backend", client_id="rtletter-RS384", private_key_pem=pem, key_id=jwk["kid"])
    with FhirClient(sandbox.base_url, auth=build_auth(settings, sandbox.base_url)) as client:
        for rtype in ("Procedure", "Patient", "Condition", "Observation", "Practitioner", "CarePlan", "Task"):
            assert client.search(rtype, {"_count": "1"})["resourceType"] == "Bundle"  # the server enforces scopes
        device = client.create({"resourceType": "Device", "deviceName": [{"name": "rtletter", "type": "model-name"}]})
        document = client.create(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "docStatus": "preliminary",
                "content": [{"attachment": {"contentType": "text/plain", "data": "RW50d3VyZg=="}}],
            }
        )
        client.create(
            {
                "resourceType": "Provenance",
                "target": [{"reference": f"DocumentReference/{document['id']}"}],
                "recorded": "2026-01-01T00:00:00Z",
                "agent": [{"who": {"reference": f"Device/{device['id']}"}}],
            }
        )
        client.create({"resourceType": "Task", "status": "requested", "intent": "order"})
        with pytest.raises(ChannelAuthError) as created:
            client.create({"resourceType": "Patient", "gender": "female"})
        assert created.value.status == 403  # no writes beyond the draft set
        with pytest.raises(ChannelAuthError) as deleted:
            client.request("DELETE", f"DocumentReference/{document['id']}")
        assert deleted.value.status == 403  # and no deletes
