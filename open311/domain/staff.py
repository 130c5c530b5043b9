"""Staff users, their passwords and bearer tokens, and what each role may see.

Passwords are stored as werkzeug's scrypt hashes (slow on purpose: a leaked table must not give
them away). Bearer tokens are 256-bit random strings, so, as API keys, a SHA-256 is enough and the
lookup is one unique-index probe; they expire and can be revoked. Domain code flushes, the caller
commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from open311.db import catalogue_queries, staff_queries
from open311.db.models import Crew, Jurisdiction, StaffToken, StaffUser, WorkOrder
from open311.domain import jurisdictions as cities
from open311.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from open311.values import StaffRole

TOKEN_PREFIX_LENGTH = 8
MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Checked when the username is unknown, so a wrong name costs the time of a wrong password and
# login timing does not tell which usernames exist.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))

LOGIN_REFUSED = "username or password not recognised"
# Password guessing: this many wrong passwords in a row lock an account for this long.
LOCKOUT_AFTER = 5
LOCKOUT = timedelta(minutes=15)

# Roles that see and work every crew's work orders.
ALL_CREWS = frozenset({StaffRole.administrator, StaffRole.supervisor})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    username: str,
    *,
    password: str,
    role: StaffRole | str,
    display_name: str | None = None,
    crews: Iterable[Crew] = (),
    jurisdictions: Iterable[Jurisdiction] | None = None,
) -> StaffUser:
    """A new active staff user; a crew member must belong to at least one crew. The user works
    for `jurisdictions`; None means the cities of `crews`, or without crews the default one
    (see `default_jurisdictions`)."""
    if not USERNAME.match(username):
        raise InvalidInput(
            "username: 2 to 64 characters, lower-case letters, digits, '.', '_' or '-'"
        )
    try:
        role = StaffRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in StaffRole)
        raise InvalidInput(f"role: unknown role {role!r}; roles: {roles}") from None
    check_password_rules(password)
    if staff_queries.get_staff_user(session, username) is not None:
        raise Conflict(f"username: {username} is taken")
    crews = list(crews)
    if role is StaffRole.crew_member and not crews:
        raise InvalidInput("crews: a crew member belongs to at least one crew")
    if jurisdictions is not None:
        cities_of_user = list(jurisdictions)
    elif crews:  # the crews' cities
        pks = sorted({crew.agency.jurisdiction_id for crew in crews})
        cities_of_user = [session.get_one(Jurisdiction, pk) for pk in pks]
    else:
        cities_of_user = default_jurisdictions(session)
    check_crews_in(crews, cities_of_user)
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=generate_password_hash(password),
        crews=crews,
        jurisdictions=cities_of_user,
    )
    try:
        # A savepoint: the same username created at the same moment by someone else passed the
        # check above too, and meets us at the unique constraint; that is a Conflict, not a 500.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        if staff_queries.get_staff_user(session, username) is None:
            raise
        raise Conflict(f"username: {username} is taken") from None
    return user


def default_jurisdictions(session: Session) -> list[Jurisdiction]:
    """The cities a user created without naming any works for: the default jurisdiction (the
    only one on a single-city server). None before a city exists, or when there are several and
    none is the default: such a user sees nothing until given cities (commands and the API
    name them instead)."""
    try:
        return [cities.resolve(session, None)]
    except (InvalidInput, NotFound):
        return []


def check_crews_in(crews: Iterable[Crew], jurisdictions: Iterable[Jurisdiction]) -> None:
    """A user's crews belong to the user's cities (400 otherwise)."""
    allowed = {jurisdiction.id for jurisdiction in jurisdictions}
    for crew in crews:
        if crew.agency.jurisdiction_id not in allowed:
            raise InvalidInput(f"crew_ids: crew {crew.id} is not of the user's jurisdictions")


def choose_jurisdiction(
    session: Session, user: StaffUser, jurisdiction_id: str | None
) -> Jurisdiction:
    """The city a staff call is about. Named: it, if the user works for it (403 otherwise: the
    ids are public in discovery, so saying so gives nothing away; unknown is 404). Not named:
    the user's only city, or the default one when the user works for several and for it;
    otherwise 400 naming the user's cities."""
    mine = list(user.jurisdictions)
    if jurisdiction_id:
        chosen = cities.resolve(session, jurisdiction_id)
        if chosen not in mine:
            raise Forbidden(f"jurisdiction_id {jurisdiction_id}: you do not work for it")
        return chosen
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise Forbidden("you work for no jurisdiction; an administrator can add you to one")
    default = catalogue_queries.get_default_jurisdiction(session)
    if default is not None and default in mine:
        return default
    names = ", ".join(jurisdiction.jurisdiction_id for jurisdiction in mine)
    raise InvalidInput(f"jurisdiction_id is required: you work for {names}")


def jurisdiction_scope(user: StaffUser) -> tuple[int, ...]:
    """The primary keys of the cities whose requests and work orders `user` may see."""
    return tuple(jurisdiction.id for jurisdiction in user.jurisdictions)


def set_password(user: StaffUser, password: str) -> None:
    check_password_rules(password)
    user.password_hash = generate_password_hash(password)


def login(
    session: Session, username: str, password: str, *, now: datetime, lifetime: timedelta
) -> tuple[StaffToken, str]:
    """A new token for valid credentials of an active user; the plain token is shown once.

    LOCKOUT_AFTER wrong passwords in a row lock the account for LOCKOUT (wrong ones meanwhile
    are counted but do not prolong it; once it has passed, the count starts again); a locked
    account is refused with the same answer as a wrong password (which would otherwise tell a
    guesser which usernames exist), and its password is checked anyway (same timing). Failures
    are flushed before raising: the caller commits them even though the login failed.

    Safe under concurrency: a wrong password is counted by one atomic UPDATE (parallel guesses
    each count, and the one reaching the limit sets the lock), and a right one is accepted only
    after re-reading the user under a row lock, so a lockout committed by a parallel guess
    meanwhile still refuses it, and so does a new password or a disabled account.
    """
    user = staff_queries.get_staff_user(session, username)
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is None:
        raise Unauthenticated(LOGIN_REFUSED)
    if not valid:
        staff_queries.count_failed_login(
            session, user.id, limit=LOCKOUT_AFTER, now=now, locked_until=now + LOCKOUT
        )
        raise Unauthenticated(LOGIN_REFUSED)
    checked = user.password_hash
    user = staff_queries.lock_staff_user(session, user.id)
    if user is None or (user.locked_until is not None and user.locked_until > now):
        raise Unauthenticated(LOGIN_REFUSED)
    if user.password_hash != checked:
        # A new password was set while this one was checked: its tokens were all revoked, and
        # one issued now for the old password would outlive the change.
        raise Unauthenticated(LOGIN_REFUSED)
    if not user.active:
        raise Unauthenticated(LOGIN_REFUSED)
    user.failed_logins, user.locked_until = 0, None
    return issue_token(session, user, now=now, lifetime=lifetime)


def issue_token(
    session: Session, user: StaffUser, *, now: datetime, lifetime: timedelta
) -> tuple[StaffToken, str]:
    plain = secrets.token_urlsafe(32)
    token = StaffToken(
        user=user,
        token_hash=hash_token(plain),
        token_prefix=plain[:TOKEN_PREFIX_LENGTH],
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(token)
    session.flush()
    return token, plain


def authenticate(session: Session, plain: str | None, *, now: datetime) -> StaffToken:
    """The live token behind a bearer string: unknown, expired, revoked or of a disabled user
    is Unauthenticated (401), with no hint which."""
    if not plain:
        raise Unauthenticated("a bearer token is required: Authorization: Bearer <token>")
    token = staff_queries.get_staff_token_by_hash(session, hash_token(plain))
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= now
        or not token.user.active
    ):
        raise Unauthenticated("bearer token not recognised, expired or revoked")
    return token


def revoke(token: StaffToken, *, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now


def revoke_all(session: Session, user: StaffUser, *, now: datetime) -> int:
    """Revoke every live token of `user` (disabled account, changed password); how many."""
    tokens = staff_queries.find_live_staff_tokens(session, user.id, now)
    for token in tokens:
        token.revoked_at = now
    return len(tokens)


def require_role(user: StaffUser, roles: Iterable[StaffRole]) -> None:
    allowed = set(roles)
    if user.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise Forbidden(f"role {user.role.value} may not do this; it needs: {names}")


def crew_scope(user: StaffUser) -> list[int] | None:
    """The crews whose work orders `user` may see and change; None means all of them."""
    if user.role in ALL_CREWS:
        return None
    return [crew.id for crew in user.crews]


def check_work_order_scope(user: StaffUser, work_order: WorkOrder) -> None:
    """A crew member works only the work orders of their own crews (403 otherwise); a work
    order of a city the user does not work for is not found (404)."""
    if work_order.agency.jurisdiction_id not in jurisdiction_scope(user):
        raise NotFound(f"work order {work_order.id} not found")
    scope = crew_scope(user)
    if scope is not None and work_order.crew_id not in scope:
        raise Forbidden(f"work order {work_order.id} is not one of your crews' work orders")
