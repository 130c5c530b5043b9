"""The Idempotency-Key header of POST requests at the edge: read it, answer a retry with the
stored answer, keep a new answer (the rules: domain/idempotency.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, g, request
from sqlalchemy.orm import Session

from open311 import clock
from open311.db.models import ApiClient
from open311.domain import idempotency
from open311.media.photos import Upload

HEADER = "Idempotency-Key"

# The header as the OpenAPI document declares it (`@blp.doc(parameters=[PARAMETER])`): what
# parse_key accepts, exactly (`""`, an empty quoted key, is the pattern's one exception).
PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": (
        "Makes a retry safe (IETF httpapi idempotency-key draft): the same API client sending "
        "the same key and body within 24 hours gets the first answer again (same status, "
        "content type and body) and nothing is filed twice; the same key with another body is "
        "refused with 422. A refused first try (4xx) leaves the key free. The key may be sent "
        'bare or as a structured-field string ("...").'
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.MAX_KEY_LENGTH,
        "pattern": r'^(?!""$)[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$',
    },
}


@dataclass(frozen=True)
class Attempt:
    """One POST's use of its Idempotency-Key: `replay` is the answer to send when this is a
    retry of a request already filed; otherwise file it and `keep` the answer before the
    commit (without a header both do nothing)."""

    session: Session
    claimed: idempotency.Claim | None = None
    replay: Response | None = None

    def keep(self, answer: Response, service_request_pk: int | None) -> None:
        """Store `answer` (a fully rendered, non-streamed response) for the key's retries."""
        if self.claimed is None:
            return
        stored = idempotency.Answer(answer.status_code, answer.content_type, answer.get_data())
        idempotency.remember(
            self.session, self.claimed, stored, service_request_pk=service_request_pk
        )


def attempt(
    session: Session,
    client: ApiClient,
    fields: Mapping[str, str],
    answers: Mapping[str, Sequence[str]],
    uploads: Sequence[Upload],
) -> Attempt:
    """Call once the API client is known and the body read, before anything is filed (or a
    photo decoded): a malformed key is a 400, a key reused with another body a 422, and a retry
    of a filed request gets its first answer here. A retry that arrives while the first try is
    still running waits for it."""
    header = request.headers.get(HEADER)
    if header is None:
        return Attempt(session)
    key = idempotency.parse_key(header)
    fingerprint = idempotency.fingerprint(
        fmt=g.fmt, fields=fields, answers=answers, photos=[upload.data for upload in uploads]
    )
    outcome = idempotency.claim(
        session, api_client_id=client.id, key=key, fingerprint=fingerprint, now=clock.now()
    )
    if isinstance(outcome, idempotency.Answer):
        replay = Response(
            outcome.body, status=outcome.status_code, content_type=outcome.content_type
        )
        return Attempt(session, replay=replay)
    return Attempt(session, claimed=outcome)
