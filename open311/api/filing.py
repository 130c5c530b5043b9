"""Filing a request with its photos: the one sequence POST requests and the filing form follow.

The photos were checked and cleaned before (media.photos.prepare: a bad one refuses the whole
request and nothing is written); the first one's URL becomes the request's media_url, the
request is submitted (intake.submit writes nothing unless every check passed), then the files
are written and their rows recorded in the same transaction, and the files removed again when
it does not commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from open311.api import media
from open311.db.models import ApiClient, Jurisdiction, ServiceRequest
from open311.domain import intake
from open311.media import photos


def file_request(
    session: Session,
    jurisdiction: Jurisdiction,
    client: ApiClient | None,
    submission: intake.Submission,
    cleaned: Sequence[photos.Photo],
    *,
    before_commit: Callable[[ServiceRequest], None] | None = None,
) -> ServiceRequest:
    """Submit `submission` with its `cleaned` photos and commit; the stored request.
    `before_commit(stored)` runs in the transaction, just before the commit (the API keeps its
    Idempotency-Key answer there, so that the answer and the request are stored together)."""
    if cleaned:
        submission.media_url = media.media_url(cleaned[0].name)
    stored = intake.submit(session, jurisdiction, client, submission)
    with photos.kept(media.store(), cleaned):
        photos.record(session, cleaned, service_request_pk=stored.id, now=stored.requested_datetime)
        if before_commit is not None:
            before_commit(stored)
        session.commit()
    return stored
