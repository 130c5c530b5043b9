"""Idempotency-Key on POST requests (IETF httpapi idempotency-key draft): a client's retry of a
POST whose answer it never saw gets that answer again instead of filing a second request.

The rules: a key belongs to one API client; it is kept 24 hours (an older one counts as new,
and claiming a key purges a batch of expired ones); the same key with a body of another
fingerprint is refused (422). The key's row is claimed in the transaction that files the
request and its answer stored there before the commit, so an error rolls the claim back (a
failed first try leaves the key free, as the draft allows a failed request to be retried) and of
two concurrent tries one files and the other waits, then replays.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from open311.db import idempotency_queries as queries
from open311.errors import IdempotencyKeyReused, InvalidInput
from open311.i18n import _

KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Expired rows deleted by each new claim: more than one per claim, so purging outpaces expiry.
PURGE_BATCH = 100
# Fields that do not decide the answer: api_key names the client, which scopes the key already
# (a retry after the client's key was rotated is still the same request).
UNFINGERPRINTED = frozenset({"api_key"})

# The draft's value is a structured-field string: visible ASCII and spaces.
_VISIBLE = re.compile(r"[\x20-\x7e]*")
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')


@dataclass(frozen=True)
class Answer:
    """What the first try of a key answered, to be sent again byte for byte."""

    status_code: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Claim:
    """The key is this transaction's: file the request, then `remember` its answer before
    committing."""

    key_id: int


def parse_key(header: str) -> str:
    """The key an Idempotency-Key header carries; InvalidInput (400) unless the value is 1 to 255
    visible ASCII characters, with spaces only between them (what the OpenAPI document says).

    The draft sends it as a structured-field string ("...", with \\" and \\\\ escaped); most
    clients send the bare text. Both are taken, and `"abc"` and `abc` are the same key. A value
    that only looks quoted (an unknown escape) is taken as bare text, so whatever the documented
    pattern allows is accepted; only `""`, an empty quoted key, is refused besides."""
    if not header:
        raise InvalidInput(_("Idempotency-Key: must not be empty"))
    if len(header) > MAX_KEY_LENGTH:
        raise InvalidInput(_("Idempotency-Key: at most %(count)s characters", count=MAX_KEY_LENGTH))
    if not _VISIBLE.fullmatch(header) or header.strip(" ") != header:
        raise InvalidInput(
            _(
                "Idempotency-Key: visible ASCII characters only, spaces between them "
                "(no control characters)"
            )
        )
    quoted = _SF_STRING.fullmatch(header)
    key = re.sub(r"\\([\"\\])", r"\1", quoted.group(1)) if quoted else header
    if not key:
        raise InvalidInput(_("Idempotency-Key: must not be empty"))
    return key


def fingerprint(
    *,
    fmt: str,
    fields: Mapping[str, str],
    answers: Mapping[str, Sequence[str]],
    photos: Sequence[bytes],
) -> str:
    """SHA-256 (hex) of what decides a POST's answer: the format asked for, the fields as parsed
    (so a form, multipart or JSON body with the same fields is the same request, whatever its
    encoding or multipart boundary), the attribute answers in the order sent, and the photos'
    bytes in order (the first becomes media_url). File names are left out: they only name a
    part in an error message, and an error is never stored."""
    document = {
        "format": fmt,
        "fields": sorted([k, v] for k, v in fields.items() if k not in UNFINGERPRINTED),
        "attributes": sorted([code, list(values)] for code, values in answers.items()),
        "photos": [hashlib.sha256(data).hexdigest() for data in photos],
    }
    canonical = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def claim(
    session: Session, *, api_client_id: int, key: str, fingerprint: str, now: datetime
) -> Claim | Answer:
    """Take `key` for this transaction (a Claim), or the stored Answer of its first try.

    A live key of another fingerprint raises IdempotencyKeyReused. While another transaction
    holds the key this waits for it to end: once it commits, its answer is returned; if it
    rolled back, the key is claimed here. A new claim also purges up to PURGE_BATCH expired
    keys of any client, in this transaction. The caller commits (or rolls back)."""
    if now.tzinfo is None:
        raise ValueError("claim needs an aware `now`")
    expired_before = now - KEPT_FOR
    # Twice at most: a row found held can vanish before it is read (purged, or taken over and
    # rolled back); then the key is free and the second claim takes it.
    for _attempt in range(2):
        key_id = queries.claim_key(
            session,
            api_client_id=api_client_id,
            key=key,
            fingerprint=fingerprint,
            now=now,
            expired_before=expired_before,
        )
        if key_id is not None:
            queries.purge_expired(session, expired_before=expired_before, limit=PURGE_BATCH)
            return Claim(key_id)
        stored = queries.get_key(session, api_client_id, key)
        if stored is None:
            continue
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                _(
                    "Idempotency-Key was already used with a different request body; "
                    "use a new key for a new request"
                )
            )
        assert stored.status_code is not None and stored.content_type is not None
        return Answer(stored.status_code, stored.content_type, stored.body or b"")
    raise RuntimeError(f"Idempotency-Key of client {api_client_id} could not be claimed")


def remember(
    session: Session, claimed: Claim, answer: Answer, *, service_request_pk: int | None
) -> None:
    """Store the answer of a claimed key, in the transaction that files the request (flushes;
    the caller commits)."""
    queries.store_answer(
        session,
        claimed.key_id,
        status_code=answer.status_code,
        content_type=answer.content_type,
        body=answer.body,
        service_request_pk=service_request_pk,
    )
