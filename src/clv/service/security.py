"""API tokens and roles of ``clv serve``: created by ``clv serve token create``, stored hashed, checked in constant time.

A token reads ``clv_<id>_<secret>``: the id (12 hex digits) finds its row, and
the 32-byte secret is checked against the row's scrypt digest (RFC 7914; n=2**14,
r=8, p=1, a 16-byte random salt per token) with :func:`hmac.compare_digest`. The
secret itself is never stored or logged; it is shown once, when created.

A verified token is remembered for :data:`CACHE_SECONDS` under an HMAC of the
token with a key drawn at start (never the token itself), so that a busy client
does not pay scrypt's ~50 ms on every request; a revoked token stops working
when its cache entry expires.

Roles, each including the ones before it:

- ``viewer``: read scores, segments, KPIs, runs, reports; run what-if scenarios;
  export segments WITHOUT personal data.
- ``analyst``: also exports WITH emails (personal data).
- ``admin``: also triggers refreshes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time

from clv.errors import DataError

__all__ = ["ROLES", "CACHE_SECONDS", "TokenChecker", "create_token", "has_role", "hash_secret"]

ROLES = ("viewer", "analyst", "admin")
"""The roles, weakest first; a role includes the rights of those before it."""

CACHE_SECONDS = 60.0
_TOKEN = re.compile(r"clv_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_secret(secret: str, salt: bytes) -> str:
    """scrypt(secret, salt) as hex (n=2**14, r=8, p=1, 32 bytes)."""
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT).hex()


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` includes the rights of ``needed``."""
    return ROLES.index(role) >= ROLES.index(needed)


def create_token(store, role: str, name: str = "") -> str:
    """Create a token with ``role`` in the store's token table and return it (shown once, stored hashed).

    Parameters
    ----------
    store : clv.service.store.RunStore
        The run database (its ``api_tokens`` table).
    role : {"viewer", "analyst", "admin"}
        The token's role.
    name : str, default ""
        A label (who or what uses it).

    Returns
    -------
    str
        The token, ``clv_<id>_<secret>``.
    """
    if role not in ROLES:
        raise DataError(f"--role {role!r} is not a role. Fix: one of {', '.join(ROLES)}.")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    store.add_token(token_id, name or role, role, salt.hex(), hash_secret(secret, salt))
    return f"clv_{token_id}_{secret}"


class TokenChecker:
    """Checks presented tokens against the store; returns the role or None (never says why, never logs a token)."""

    def __init__(self, store, cache_seconds: float = CACHE_SECONDS):
        self.store = store
        self.cache_seconds = cache_seconds
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def role(self, token: str | None) -> str | None:
        """The role of ``token``, or None when it is missing, malformed, unknown, revoked or wrong."""
        if not token or len(token) > 100:
            return None
        fingerprint = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        with self._lock:
            hit = self._cache.get(fingerprint)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        role = self._verify(token)
        if role is not None:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[fingerprint] = (role, time.monotonic() + self.cache_seconds)
        return role

    def _verify(self, token: str) -> str | None:
        match = _TOKEN.match(token)
        if match is None:
            return None
        row = self.store.token(match.group(1))
        if row is None:
            hash_secret(match.group(2), b"0" * 16)  # same work whether the id exists or not
            return None
        digest = hash_secret(match.group(2), bytes.fromhex(row["salt"]))
        return row["role"] if hmac.compare_digest(digest, row["digest"]) else None

    def forget(self) -> None:
        """Drop every cached verification (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()
