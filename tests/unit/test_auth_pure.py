"""The pure pieces of API auth: token bucket, scopes, JWTs, API keys, passwords, secret files."""

from __future__ import annotations

import base64
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from hub.auth.api_keys import API_KEY_PREFIX, generate_api_key, hash_api_key, looks_like_api_key
from hub.auth.keys import (
    JWT_SECRET_FILE,
    PII_KEY_FILE,
    SecretFileError,
    load_or_create_secret,
    with_secrets,
)
from hub.auth.local import issue_admin_token
from hub.auth.passwords import hash_password, verify_password
from hub.auth.ratelimit import RateLimiter, TokenBucket, retry_after_header
from hub.auth.scopes import (
    Role,
    Scope,
    ScopeError,
    format_scopes,
    grants,
    missing_scopes,
    narrow,
    parse_scopes,
    role_scopes,
)
from hub.auth.tokens import AUDIENCE, JwtCodec, TokenError, TokenKind, looks_like_jwt
from hub.settings import HubSettings, HubSettingsError

SECRET = "s" * 48
OTHER_SECRET = "o" * 48


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------
# Token bucket
# ---------------------------------------------------------------------------------------------


def test_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate_per_s=0.5, capacity=2, tokens=2, updated=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(2.0)  # one token comes back every 2 s
    assert bucket.take(1.0) == pytest.approx(1.0)
    assert bucket.take(2.0) == 0.0
    assert bucket.take(2.0) == pytest.approx(2.0)


def test_bucket_never_holds_more_than_its_capacity_and_ignores_a_clock_going_back() -> None:
    bucket = TokenBucket(rate_per_s=1.0, capacity=3, tokens=0, updated=0.0)
    bucket.refill(1000.0)
    assert bucket.tokens == 3
    bucket.refill(10.0)  # earlier than the last update: no refill, no negative time
    assert bucket.tokens == 3
    assert bucket.updated == 1000.0


def test_rate_limiter_keeps_one_bucket_per_key() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=6, burst=2, clock=clock)
    assert limiter.hit("alice") == 0.0
    assert limiter.hit("alice") == 0.0
    wait = limiter.hit("alice")
    assert wait == pytest.approx(10.0)  # 6 per minute: one every 10 s
    assert limiter.hit("bob") == 0.0  # another caller is not affected
    clock.now += 10.0
    assert limiter.hit("alice") == 0.0
    assert limiter.hit("alice") > 0


def test_rate_limiter_forgets_idle_keys_first_when_full() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock, max_keys=3)
    limiter.hit("busy")
    clock.now += 100.0  # "busy" refills: idle
    limiter.hit("a")
    limiter.hit("b")
    limiter.hit("c")  # full: the idle "busy" bucket goes
    assert len(limiter) == 3
    assert limiter.hit("a") > 0  # "a" was kept: its empty bucket still counts


def test_rate_limiter_refuses_nonsense_parameters() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(per_minute=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(per_minute=1, burst=0)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.9, "60")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------


def test_parse_and_format_scopes() -> None:
    assert parse_scopes("cv:read  ml:read") == {"cv:read", "ml:read"}
    assert parse_scopes("") == frozenset()
    assert format_scopes({"ml:read", "cv:read"}) == "cv:read ml:read"
    with pytest.raises(ScopeError, match="'cv:delete'"):
        parse_scopes("cv:read cv:delete")


def test_admin_implies_every_scope_and_nothing_else_does() -> None:
    for scope in Scope:
        assert grants({Scope.ADMIN}, scope)
    assert grants({"cv:read"}, "cv:read")
    assert not grants({"cv:write"}, "cv:read")  # write does not imply read
    assert not grants(set(), "cv:read")
    assert missing_scopes({"cv:read"}, ["cv:read", "cv:write", "ml:read"]) == [
        "cv:write",
        "ml:read",
    ]
    assert missing_scopes({"admin"}, ["cv:write", "admin"]) == []


def test_roles_grant_their_scopes() -> None:
    assert role_scopes("admin") == {"admin"}
    assert "cv:write" in role_scopes(Role.MANAGER)
    assert "admin" not in role_scopes(Role.MANAGER)
    assert role_scopes("viewer") == {"cv:read", "ml:read"}
    assert role_scopes("no-such-role") == frozenset()


def test_narrow_grants_what_was_asked_when_allowed() -> None:
    assert narrow({"admin"}, {"cv:read"}) == {"cv:read"}  # an admin may ask for less
    assert narrow({"cv:read", "ml:read"}, set()) == {"cv:read", "ml:read"}
    with pytest.raises(ScopeError, match="'cv:write'"):
        narrow({"cv:read"}, {"cv:read", "cv:write"})


# ---------------------------------------------------------------------------------------------
# JWTs
# ---------------------------------------------------------------------------------------------


def test_jwt_round_trip() -> None:
    codec = JwtCodec(SECRET, site="hotel-1")
    token = codec.encode(
        "alice", {"cv:read", "ml:read"}, ttl=timedelta(minutes=5), kind=TokenKind.USER
    )
    assert looks_like_jwt(token)
    claims = codec.decode(token)
    assert claims.subject == "alice"
    assert claims.kind is TokenKind.USER
    assert claims.scopes == {"cv:read", "ml:read"}
    assert claims.expires_at > datetime.now(UTC)
    assert SECRET not in repr(codec)


def test_expired_jwt_is_refused_as_expired() -> None:
    codec = JwtCodec(SECRET, site="s")
    token = codec.encode(
        "alice", {"cv:read"}, ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1)
    )
    with pytest.raises(TokenError, match="expired") as caught:
        codec.decode(token)
    assert caught.value.expired


def test_jwt_signed_with_another_secret_is_refused() -> None:
    token = JwtCodec(OTHER_SECRET, site="s").encode("mallory", {"admin"}, ttl=timedelta(minutes=5))
    with pytest.raises(TokenError, match="signature") as caught:
        JwtCodec(SECRET, site="s").decode(token)
    assert not caught.value.expired


def test_jwt_of_another_hub_is_refused() -> None:
    token = JwtCodec(SECRET, site="hotel-a").encode("alice", {"admin"}, ttl=timedelta(minutes=5))
    with pytest.raises(TokenError, match="issuer"):
        JwtCodec(SECRET, site="hotel-b").decode(token)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_or_unsigned_jwt_is_refused() -> None:
    codec = JwtCodec(SECRET, site="s")
    token = codec.encode("alice", {"cv:read"}, ttl=timedelta(minutes=5))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    with pytest.raises(TokenError):
        codec.decode(f"{header}.{_b64(claims)}.{signature}")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(TokenError):
        codec.decode(unsigned)


def test_jwt_without_expiry_or_with_an_unknown_scope_is_refused() -> None:
    codec = JwtCodec(SECRET, site="s")
    base = {"sub": "a", "knd": "user", "iss": codec.issuer, "aud": AUDIENCE, "iat": 1, "jti": "x"}
    no_exp = jwt.encode({**base, "scope": "cv:read"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="exp"):
        codec.decode(no_exp)
    far = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    odd_scope = jwt.encode({**base, "exp": far, "scope": "root"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="unknown scope"):
        codec.decode(odd_scope)
    odd_kind = jwt.encode({**base, "exp": far, "knd": "god", "scope": ""}, SECRET, "HS256")
    with pytest.raises(TokenError, match="invalid token"):
        codec.decode(odd_kind)


@pytest.mark.parametrize("text", ["", "abc", "a.b", "a..c", "ik_abc", "a.b.c.d"])
def test_looks_like_jwt_only_for_three_parts(text: str) -> None:
    assert not looks_like_jwt(text)


def test_issue_admin_token_uses_the_data_dirs_secret(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path, site="hotel-1")
    token = issue_admin_token(settings, minutes=5)
    secret = (tmp_path / JWT_SECRET_FILE).read_text().strip()
    claims = JwtCodec(secret, site="hotel-1").decode(token)
    assert claims.subject == "local-admin"
    assert claims.kind is TokenKind.LOCAL
    assert claims.scopes == {"admin"}
    assert claims.expires_at - datetime.now(UTC) <= timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------
# API keys and passwords
# ---------------------------------------------------------------------------------------------


def test_api_keys_are_random_prefixed_and_hashed() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first.key != second.key
    assert first.key.startswith(API_KEY_PREFIX)
    assert len(first.key) >= 40
    assert first.prefix == first.key[:11]
    assert first.key_hash == hash_api_key(first.key)
    assert len(first.key_hash) == 64
    assert first.key not in repr(first)
    assert looks_like_api_key(first.key)
    assert not looks_like_api_key("eyJhbGciOi.x.y")


def test_passwords_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password(None, "anything")  # unknown user: refused, same work
    assert not verify_password("not-a-hash", "anything")


# ---------------------------------------------------------------------------------------------
# Generated secrets
# ---------------------------------------------------------------------------------------------


def test_secret_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "jwt.secret"
    first = load_or_create_secret(path, lambda: "a" * 40, min_chars=32)
    assert first == "a" * 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path, lambda: "b" * 40, min_chars=32) == first
    assert [p.name for p in path.parent.iterdir()] == ["jwt.secret"]  # no temp files left


def test_concurrent_creators_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "jwt.secret"
    counter = iter(range(1000))

    def make() -> str:
        return f"secret-{next(counter):04d}-" + "x" * 40

    with ThreadPoolExecutor(8) as pool:
        results = set(pool.map(lambda _: load_or_create_secret(path, make), range(16)))
    assert len(results) == 1


def test_an_unusable_secret_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "jwt.secret"
    path.write_text("short\n")
    with pytest.raises(SecretFileError, match=str(path)):
        load_or_create_secret(path, lambda: "x" * 40, min_chars=32)


def test_with_secrets_fills_and_persists_but_keeps_given_ones(tmp_path: Path) -> None:
    bare = HubSettings(data_dir=tmp_path)
    assert bare.jwt_secret is None
    filled = with_secrets(bare)
    assert filled.jwt_secret is not None
    assert filled.pii_key is not None
    assert (tmp_path / JWT_SECRET_FILE).read_text().strip() == filled.jwt_secret.get_secret_value()
    assert (tmp_path / PII_KEY_FILE).read_text().strip() == filled.pii_key.get_secret_value()
    again = with_secrets(HubSettings(data_dir=tmp_path))
    assert again.jwt_secret == filled.jwt_secret
    given = with_secrets(HubSettings(data_dir=tmp_path / "other", jwt_secret=SecretStr(SECRET)))
    assert given.jwt_secret is not None
    assert given.jwt_secret.get_secret_value() == SECRET
    assert not (tmp_path / "other" / JWT_SECRET_FILE).exists()
    assert filled.jwt_secret.get_secret_value() not in repr(filled) + filled.model_dump_json()
    assert os.stat(tmp_path / PII_KEY_FILE).st_mode & 0o077 == 0


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def test_auth_settings_are_validated_with_the_env_var_named() -> None:
    with pytest.raises(HubSettingsError, match=r"INNSIGHT_JWT_SECRET: .*at least 32"):
        HubSettings.from_env({"INNSIGHT_JWT_SECRET": "short"})
    with pytest.raises(HubSettingsError, match=r"INNSIGHT_PII_KEY: .*Fernet"):
        HubSettings.from_env({"INNSIGHT_PII_KEY": "not-a-key"})
    with pytest.raises(HubSettingsError, match=r"INNSIGHT_CORS_ORIGINS: .*'\*'"):
        HubSettings.from_env({"INNSIGHT_CORS_ORIGINS": "*"})


def test_cors_origins_default_to_none_and_read_a_comma_list() -> None:
    assert HubSettings().cors_origins == []
    settings = HubSettings.from_env(
        {"INNSIGHT_CORS_ORIGINS": "https://frontdesk.hotel.example, http://127.0.0.1:5173/"}
    )
    assert settings.cors_origins == ["https://frontdesk.hotel.example", "http://127.0.0.1:5173"]
