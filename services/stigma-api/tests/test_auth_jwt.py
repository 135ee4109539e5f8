"""Bearer JWTs: issuer, audience, expiry, signature, key ids and the JWKS refresh, each
refused with a message that says what is wrong (never the token)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from stigma_api.auth import (
    AuthenticationFailed,
    JwksCache,
    JwksError,
    JwtRules,
    JwtVerifier,
    Mechanism,
    Principal,
    Refusal,
    UrlJwks,
    parse_jwks,
)

ISSUER = "https://id.example.test/"
AUDIENCE = "stigma-api"


@dataclass
class SigningKey:
    kid: str
    algorithm: str = "RS256"
    private: Any = field(init=False)

    def __post_init__(self) -> None:
        if self.algorithm.startswith("ES"):
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return data | {"kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims,
            self.private,
            algorithm=self.algorithm,
            headers={"kid": self.kid, **(headers or {})},
        )


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [key.jwk() for key in keys]})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "tenant": "acme",
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


class FakeSource:
    """A JWKS source whose document the test changes; counts the fetches."""

    description = "test-jwks"

    def __init__(self, text: str) -> None:
        self.text = text
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> str:
        self.fetches += 1
        if self.fail:
            raise JwksError("identity provider down")
        return self.text

    async def aclose(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RULES = JwtRules(
    issuer=ISSUER,
    audience=(AUDIENCE,),
    algorithms=frozenset({"RS256", "ES256"}),
    leeway=timedelta(seconds=0),
)


async def _verifier(
    source: FakeSource, clock: Clock | None = None, rules: JwtRules = RULES
) -> JwtVerifier:
    cache = JwksCache(
        source,
        refresh=timedelta(minutes=5),
        min_interval=timedelta(seconds=10),
        clock=clock or Clock(),
    )
    await cache.load()
    return JwtVerifier(rules, cache)


K1 = SigningKey("k1")
K1_ES = SigningKey("k1-es", algorithm="ES256")


async def _refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        await verifier.verify(token)
    message = str(caught.value)
    assert caught.value.reason is Refusal.JWT
    assert message.startswith("bearer token")
    assert token not in message
    return message


@pytest.mark.parametrize("key", [K1, K1_ES], ids=["RS256", "ES256"])
async def test_a_valid_token_names_its_principal(key: SigningKey) -> None:
    verifier = await _verifier(FakeSource(jwks(key)))
    principal = await verifier.verify(key.sign(claims(roles=["operator", "viewer"])))
    assert principal == Principal("alice", "acme", frozenset({"operator", "viewer"}), Mechanism.JWT)
    assert principal.operator


async def test_roles_may_be_a_space_separated_string_in_a_nested_claim() -> None:
    rules = JwtRules(
        issuer=ISSUER,
        audience=(AUDIENCE,),
        algorithms=frozenset({"RS256"}),
        tenant_claim="org.id",
        roles_claim="access.roles",
    )
    verifier = await _verifier(FakeSource(jwks(K1)), rules=rules)
    token = K1.sign(claims(tenant=None, org={"id": "beta"}, access={"roles": "operator x"}))
    principal = await verifier.verify(token)
    assert (principal.tenant, principal.roles) == ("beta", frozenset({"operator", "x"}))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exp": int(time.time()) - 5}, "bearer token: has expired"),
        (
            {"iss": "https://evil.example/"},
            "bearer token: issuer is not 'https://id.example.test/'",
        ),
        ({"aud": "someone-else"}, "bearer token: audience is not 'stigma-api'"),
        ({"exp": None}, "bearer token: claim 'exp' is missing"),
        ({"sub": None}, "bearer token: claim 'sub' is missing"),
        ({"nbf": int(time.time()) + 600}, "bearer token: is not valid yet"),
        ({"tenant": None}, "bearer token: claim 'tenant' (the tenant) is missing"),
        ({"tenant": "a' OR 'x"}, "bearer token: claim 'tenant' is not a tenant name"),
        ({"roles": {"admin": True}}, "bearer token: the roles claim is neither"),
    ],
)
async def test_bad_claims_are_refused_saying_which(changes: dict[str, Any], expected: str) -> None:
    verifier = await _verifier(FakeSource(jwks(K1)))
    message = await _refused(verifier, K1.sign(claims(**changes)))
    assert message.startswith(expected)


async def test_a_signature_by_another_key_with_the_same_kid_is_refused() -> None:
    verifier = await _verifier(FakeSource(jwks(K1)))
    impostor = SigningKey("k1")
    message = await _refused(verifier, impostor.sign(claims()))
    assert message == "bearer token: signature does not verify with the JWKS key"


async def test_a_tampered_payload_is_refused() -> None:
    verifier = await _verifier(FakeSource(jwks(K1)))
    header, _, signature = K1.sign(claims()).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(claims(tenant="victim")).encode()).decode()
    message = await _refused(verifier, f"{header}.{forged}.{signature}")
    assert "signature does not verify" in message


@pytest.mark.parametrize(
    ("token_of", "expected"),
    [
        (
            lambda: jwt.encode(claims(), key="", algorithm="none"),
            "algorithm 'none' is not accepted",
        ),
        (
            lambda: jwt.encode(claims(), "s" * 32, algorithm="HS256"),
            "algorithm 'HS256' is not accepted",
        ),
        (lambda: "not-a-jwt", "not a JWT"),
    ],
)
async def test_unsigned_shared_secret_and_malformed_tokens_are_refused(
    token_of: Callable[[], str], expected: str
) -> None:
    verifier = await _verifier(FakeSource(jwks(K1)))
    assert expected in await _refused(verifier, token_of())


async def test_an_algorithm_other_than_the_keys_is_refused() -> None:
    rules = JwtRules(issuer=ISSUER, audience=(AUDIENCE,), algorithms=frozenset({"RS256", "PS256"}))
    verifier = await _verifier(FakeSource(jwks(K1)), rules=rules)
    token = jwt.encode(claims(), K1.private, algorithm="PS256", headers={"kid": "k1"})
    assert "key 'k1' is for RS256, not PS256" in await _refused(verifier, token)


async def test_an_unknown_key_id_refetches_the_set_once_per_interval() -> None:
    source, clock = FakeSource(jwks(K1)), Clock()
    verifier = await _verifier(source, clock)
    stranger = SigningKey("k9")
    await _refused(verifier, stranger.sign(claims()))
    assert source.fetches == 1  # the set was just loaded: not fetched again at once
    clock.now += 11
    message = await _refused(verifier, stranger.sign(claims()))
    assert message == "bearer token: unknown key id 'k9' (not in the JWKS test-jwks)"
    assert source.fetches == 2  # one re-read for the unknown id
    await _refused(verifier, stranger.sign(claims()))
    assert source.fetches == 2  # not again within min_interval: no fetch amplification
    clock.now += 11
    await _refused(verifier, stranger.sign(claims()))
    assert source.fetches == 3


async def test_a_rotated_in_key_is_picked_up_at_its_first_token() -> None:
    source, clock = FakeSource(jwks(K1)), Clock()
    verifier = await _verifier(source, clock)
    clock.now += 11
    k2 = SigningKey("k2")
    source.text = jwks(K1, k2)  # the identity provider publishes its next key
    principal = await verifier.verify(k2.sign(claims(sub="bob")))
    assert principal.name == "bob"
    assert source.fetches == 2


async def test_a_stale_set_is_refreshed_in_the_background_and_a_failed_refresh_keeps_the_keys() -> (
    None
):
    source, clock = FakeSource(jwks(K1)), Clock()
    verifier = await _verifier(source, clock)
    clock.now += 301  # past the 5-minute refresh
    source.fail = True
    assert (await verifier.verify(K1.sign(claims()))).name == "alice"  # served meanwhile
    await asyncio.sleep(0)  # let the background refresh run (and fail)
    await asyncio.sleep(0)
    assert source.fetches == 2
    assert (await verifier.verify(K1.sign(claims()))).name == "alice"  # old keys kept
    source.fail = False
    clock.now += 301
    source.text = jwks(SigningKey("k3"))  # k1 retired
    await verifier.jwks.key("k1")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "unknown key id 'k1'" in await _refused(verifier, K1.sign(claims()))


def test_a_key_set_without_usable_keys_is_an_error() -> None:
    with pytest.raises(JwksError, match="no usable signing key"):
        parse_jwks(json.dumps({"keys": [{"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB"}]}))
    with pytest.raises(JwksError, match="not JSON"):
        parse_jwks("{")
    with pytest.raises(JwksError, match='an object with a "keys" list'):
        parse_jwks("[]")


async def test_a_token_without_kid_uses_the_only_key() -> None:
    verifier = await _verifier(FakeSource(jwks(K1)))
    token = jwt.encode(claims(), K1.private, algorithm="RS256")
    assert (await verifier.verify(token)).tenant == "acme"


async def test_a_url_source_fetches_without_blocking_and_names_http_errors() -> None:
    document = jwks(K1)
    answers = iter([httpx.Response(200, text=document), httpx.Response(503)])
    transport = httpx.MockTransport(lambda request: next(answers))
    source = UrlJwks("https://id.example.test/jwks", client=httpx.AsyncClient(transport=transport))
    assert await source.fetch() == document
    with pytest.raises(JwksError, match=r"https://id.example.test/jwks answered HTTP 503"):
        await source.fetch()
    await source.aclose()
