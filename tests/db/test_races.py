"""Read-then-write races, each shown with real concurrent transactions that commit, in a
database of their own: parallel wrong passwords all count and lock the account; a right
password waits for a lockout being set; a crew member's move waits for a reassignment and is
then refused; two work orders of one request finishing at once close it exactly once; two
staff locating one request at once place it once; two subscriptions added at once cannot pass
a client's cap together; one username created twice at once is a Conflict, not a 500; a
duplicate found at intake while its parent is being merged is linked to where it was merged;
two definitions of one service put at once are applied one after the other; two changes of
one user at once cannot make a crew member of no crew.

The deterministic ones hold the first transaction open (its change flushed, not committed),
start the second in a thread, wait until PostgreSQL shows it waiting for a lock (or until it
has finished, which is what the code before the fix did), and only then commit the first.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from open311 import create_app
from open311.db.models import (
    Activity,
    Agency,
    ApiClient,
    Crew,
    Jurisdiction,
    RequestDistrict,
    Service,
    ServiceAttribute,
    ServiceRequest,
    StaffToken,
    StaffUser,
    WebhookSubscription,
    WorkOrder,
)
from open311.db.session import make_session_factory
from open311.domain import (
    catalogue_admin,
    duplicates,
    routing,
    staff,
    subscriptions,
    workflow,
)
from open311.errors import Conflict, InvalidInput, Unauthenticated
from open311.values import ActivityKind, CrewKind, Datatype, StaffRole, Status, WorkOrderState
from tests.api.helpers import PASSWORD, bearer, make_staff
from tests.factories import (
    make_agency,
    make_api_client,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)
from tests.helpers import scratch_database

LIFETIME = timedelta(hours=1)


@pytest.fixture(scope="module")
def committed_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def engine(committed_url: str) -> Iterator[Engine]:
    # One connection per thread of the widest test, and the test's own.
    engine = create_engine(committed_url, pool_size=16, max_overflow=4)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def watcher(engine: Engine) -> Iterator[Connection]:
    # Autocommit: pg_locks is read afresh each time, not once per transaction.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def waiting_for_a_lock(watcher: Connection) -> bool:
    """Whether any backend of this database waits for a lock now."""
    return bool(
        watcher.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    )


class Second:
    """The second transaction, run in a thread; its result or exception kept for the test."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.outcome: Any = None
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True)

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self.outcome = work()
        except BaseException as exc:  # looked at by the test
            self.outcome = exc

    def start_and_wait_until_blocked(self, watcher: Connection, timeout_s: float = 20.0) -> None:
        """Start it; return once it waits for a lock, or has finished without waiting."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while self.thread.is_alive() and not waiting_for_a_lock(watcher):
            assert time.monotonic() < deadline, "the second transaction neither waited nor ended"
            time.sleep(0.02)

    def result(self) -> Any:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the second transaction never ended"
        return self.outcome


def _name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


# --- sign-in: the count of wrong passwords and the lockout ---------------------------------------


def _sign_in(sessions: sessionmaker[Session], username: str, password: str) -> str:
    """What the login view does: a token, or the refusal with the failure committed."""
    with sessions() as session:
        try:
            _token, plain = staff.login(
                session, username, password, now=datetime.now(UTC), lifetime=LIFETIME
            )
        except Unauthenticated:
            session.commit()
            return "refused"
        session.commit()
        return plain


def test_parallel_wrong_passwords_each_count_and_lock_the_account(sessions):
    username, guesses = _name(), 9
    with sessions() as setup:
        staff.create_user(setup, username, password=PASSWORD, role="supervisor")
        setup.commit()
    start = threading.Barrier(guesses)

    def guess(number: int) -> str:
        start.wait(timeout=30)
        return _sign_in(sessions, username, f"wrong guess {number:04d}")

    threads = [Second(lambda n=n: guess(n)) for n in range(guesses)]
    for thread in threads:
        thread.thread.start()
    assert [thread.result() for thread in threads] == ["refused"] * guesses

    with sessions() as check:
        user = check.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user.failed_logins == guesses
        assert user.locked_until is not None
        assert user.locked_until > datetime.now(UTC) + timedelta(minutes=14)
    # The right password is refused now too, and a wrong one does not prolong the lockout.
    assert _sign_in(sessions, username, PASSWORD) == "refused"
    with sessions() as check:
        after = check.scalar(select(StaffUser).where(StaffUser.username == username))
        assert after.locked_until == user.locked_until


def test_a_right_password_waits_for_a_lockout_being_set_and_is_refused(sessions, watcher):
    username = _name()
    with sessions() as setup:
        user = staff.create_user(setup, username, password=PASSWORD, role="supervisor")
        user.failed_logins = staff.LOCKOUT_AFTER - 1
        setup.commit()
    with sessions() as first:
        with pytest.raises(Unauthenticated):
            staff.login(
                first, username, "the fifth wrong one", now=datetime.now(UTC), lifetime=LIFETIME
            )
        # Locked but not committed: the right password, checked meanwhile, must wait for it.
        second = Second(lambda: _sign_in(sessions, username, PASSWORD))
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    assert second.result() == "refused"
    with sessions() as check:
        user = check.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user.failed_logins == staff.LOCKOUT_AFTER and user.locked_until is not None
        tokens = select(func.count()).where(StaffToken.staff_user_id == user.id)
        assert check.scalar(tokens.select_from(StaffToken)) == 0


# --- work orders: crew scope and closing the request --------------------------------------------


@dataclass(frozen=True)
class Yard:
    """A request with open work orders of crew `own`, whose member has `token`; `other` is
    another crew of the same agency."""

    request_pk: int
    work_orders: list[int]
    own: int
    other: int
    token: str


def _yard(sessions: sessionmaker[Session], orders: int, state: WorkOrderState) -> Yard:
    with sessions() as setup:
        city = make_jurisdiction(setup, jurisdiction_id=f"{_name()}.org")
        agency = make_agency(setup, city)
        own, other = make_crew(setup, agency), make_crew(setup, agency)
        request = make_request(setup, make_service(setup, city))
        work = [
            make_work_order(setup, request, agency, crew=own, state=state) for _ in range(orders)
        ]
        _member, token = make_staff(setup, "crew_member", _name(), crews=[own])
        setup.commit()
        return Yard(request.id, [order.id for order in work], own.id, other.id, token)


def test_a_crew_members_move_waits_for_a_reassignment_and_is_then_refused(
    committed_url, sessions, watcher
):
    """The view's scope check passes on the work order as committed (still their crew's); the
    move must be checked again on the row it locked, which the reassignment gave to another
    crew."""
    yard = _yard(sessions, 1, WorkOrderState.assigned)
    [order_id] = yard.work_orders
    app = create_app({"DATABASE_URL": committed_url, "TESTING": True})
    move = {"to": "in_progress", "public_note": "On our way"}
    with sessions() as supervisor:
        order = supervisor.get(WorkOrder, order_id)
        other = supervisor.get_one(Crew, yard.other)
        workflow.reassign(supervisor, order, other, actor="staff:sam", now=datetime.now(UTC))
        second = Second(
            lambda: app.test_client().post(
                f"/api/v1/work-orders/{order_id}/transitions",
                json=move,
                headers=bearer(yard.token),
            )
        )
        second.start_and_wait_until_blocked(watcher)
        supervisor.commit()
    answer = second.result()
    assert not isinstance(answer, BaseException), answer
    assert answer.status_code == 403, answer.json
    with sessions() as check:
        order = check.get_one(WorkOrder, order_id)
        assert (order.crew_id, order.state) == (yard.other, WorkOrderState.assigned)
        request = check.get_one(ServiceRequest, yard.request_pk)
        assert request.status_notes != "On our way"


def _finish(sessions: sessionmaker[Session], order_id: int) -> None:
    with sessions() as session:
        workflow.transition(
            session,
            session.get_one(WorkOrder, order_id),
            WorkOrderState.done,
            actor="staff:maria",
            now=datetime.now(UTC),
        )
        session.commit()


def _closings(session: Session, request_pk: int) -> int:
    closed = select(func.count()).where(
        Activity.service_request_pk == request_pk, Activity.kind == ActivityKind.request_closed
    )
    return session.scalar(closed.select_from(Activity))


def test_two_work_orders_of_a_request_finishing_at_once_close_it_exactly_once(sessions, watcher):
    """Each saw the other open: the first, flushed but not committed, sees the second open; the
    second must wait for the first and then see it done, rather than see it open too."""
    yard = _yard(sessions, 2, WorkOrderState.in_progress)
    first_id, second_id = yard.work_orders
    with sessions() as first:
        workflow.transition(
            first,
            first.get_one(WorkOrder, first_id),
            WorkOrderState.done,
            actor="staff:maria",
            now=datetime.now(UTC),
        )
        second = Second(lambda: _finish(sessions, second_id))
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    assert second.result() is None
    with sessions() as check:
        states = check.scalars(
            select(WorkOrder.state).where(WorkOrder.id.in_(yard.work_orders))
        ).all()
        assert states == [WorkOrderState.done, WorkOrderState.done]
        assert check.get_one(ServiceRequest, yard.request_pk).status is Status.closed
        assert _closings(check, yard.request_pk) == 1


def test_parallel_finishes_of_many_work_orders_close_the_request_exactly_once(sessions):
    """The same with a barrier and no help: six crews finish six work orders at once."""
    yard = _yard(sessions, 6, WorkOrderState.in_progress)
    start = threading.Barrier(len(yard.work_orders))

    def finish(order_id: int) -> None:
        start.wait(timeout=30)
        _finish(sessions, order_id)

    threads = [Second(lambda o=o: finish(o)) for o in yard.work_orders]
    for thread in threads:
        thread.thread.start()
    assert [thread.result() for thread in threads] == [None] * len(threads)
    with sessions() as check:
        assert check.get_one(ServiceRequest, yard.request_pk).status is Status.closed
        assert _closings(check, yard.request_pk) == 1


# --- locating an address-only request ------------------------------------------------------------


def test_two_staff_locating_one_request_at_once_place_it_once(sessions, watcher):
    with sessions() as setup:
        area = from_shape(MultiPolygon([box(-118.3, 34.0, -118.1, 34.1)]), srid=4326)
        city = make_jurisdiction(setup, jurisdiction_id=f"{_name()}.org", service_area=area)
        layer = make_boundary_layer(setup, city, "council_districts")
        make_district(setup, layer, "14", (-118.3, 34.0, -118.1, 34.1))
        agency = make_agency(setup, city)
        desk = make_crew(setup, agency, kind=CrewKind.triage)
        request = make_request(
            setup, make_service(setup, city), lat=None, long=None, needs_location=True
        )
        make_work_order(setup, request, agency, crew=desk)
        setup.commit()
        request_pk, city_pk = request.id, city.id

    def locate(session: Session) -> None:
        routing.locate(
            session,
            session.get_one(ServiceRequest, request_pk),
            session.get_one(Jurisdiction, city_pk),
            34.05,
            -118.2,
            actor="staff:dana",
            now=datetime.now(UTC),
        )

    def locate_and_commit() -> None:
        with sessions() as session:
            locate(session)
            session.commit()

    with sessions() as first:
        locate(first)
        second = Second(locate_and_commit)
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    refused = second.result()
    assert isinstance(refused, InvalidInput), refused
    assert "already has a location" in str(refused)
    with sessions() as check:
        placed = select(func.count()).where(RequestDistrict.service_request_pk == request_pk)
        assert check.scalar(placed.select_from(RequestDistrict)) == 1
        located = select(func.count()).where(
            Activity.service_request_pk == request_pk, Activity.kind == ActivityKind.located
        )
        assert check.scalar(located.select_from(Activity)) == 1


# --- caps and unique names checked before an insert ------------------------------------------


def _subscribe(session: Session, client_id: int) -> WebhookSubscription:
    wish = subscriptions.SubscriptionRequest("http://receiver.test/hook", ["request.created"])
    client = session.get_one(ApiClient, client_id)
    subscription, _secret = subscriptions.subscribe(
        session, client, wish, actor="client:test", now=datetime.now(UTC)
    )
    return subscription


def test_two_subscriptions_added_at_once_cannot_pass_the_cap_together(sessions, watcher):
    with sessions() as setup:
        client, _key = make_api_client(setup, _name())
        for _ in range(subscriptions.MAX_SUBSCRIPTIONS - 1):
            _subscribe(setup, client.id)
        setup.commit()
        client_id = client.id

    def subscribe_and_commit() -> None:
        with sessions() as session:
            _subscribe(session, client_id)
            session.commit()

    with sessions() as first:
        _subscribe(first, client_id)  # the last one there is room for, not committed yet
        second = Second(subscribe_and_commit)
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    refused = second.result()
    assert isinstance(refused, InvalidInput), refused
    with sessions() as check:
        active = select(func.count()).where(
            WebhookSubscription.api_client_id == client_id, WebhookSubscription.active
        )
        assert check.scalar(active.select_from(WebhookSubscription)) == (
            subscriptions.MAX_SUBSCRIPTIONS
        )


def test_one_username_created_twice_at_once_is_a_conflict_not_an_error(sessions, watcher):
    username = _name()

    def create_and_commit() -> None:
        with sessions() as session:
            staff.create_user(session, username, password=PASSWORD, role="call_taker")
            session.commit()

    with sessions() as first:
        staff.create_user(first, username, password=PASSWORD, role="supervisor")
        second = Second(create_and_commit)
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    refused = second.result()
    assert isinstance(refused, Conflict), refused
    with sessions() as check:
        user = check.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user.role is StaffRole.supervisor


# --- duplicates: a link found at intake while its parent is merged -----------------------------


def test_a_link_found_while_its_parent_is_merged_goes_to_where_it_was_merged(sessions, watcher):
    """Intake found P, open, nearby; a supervisor is merging P into Q meanwhile. The new link
    must wait for the merge and point to Q (a chain stays one step long), not to P."""
    with sessions() as setup:
        city = make_jurisdiction(setup, jurisdiction_id=f"{_name()}.org")
        service = make_service(setup, city)
        parent = make_request(setup, service, lat=34.0522, long=-118.2437)
        target = make_request(setup, service, lat=34.0700, long=-118.2000)
        setup.commit()
        ids = {"city": city.id, "service": service.id, "parent": parent.id, "target": target.id}

    def report_again() -> int | None:
        with sessions() as session:
            again = make_request(
                session, session.get_one(Service, ids["service"]), lat=34.0523, long=-118.2437
            )
            found = duplicates.detect(
                session,
                session.get_one(Jurisdiction, ids["city"]),
                again,
                actor="client:app",
                now=datetime.now(UTC),
            )
            session.commit()
            return found.id if found is not None else None

    with sessions() as supervisor:
        duplicates.merge(
            supervisor,
            supervisor.get_one(ServiceRequest, ids["parent"]),
            supervisor.get_one(ServiceRequest, ids["target"]),
            actor="staff:sam",
            now=datetime.now(UTC),
        )
        second = Second(report_again)
        second.start_and_wait_until_blocked(watcher)
        supervisor.commit()
    assert second.result() == ids["target"]
    with sessions() as check:
        linked = check.scalars(
            select(ServiceRequest.duplicate_of_pk).where(
                ServiceRequest.service_id == ids["service"],
                ServiceRequest.id.not_in([ids["parent"], ids["target"]]),
            )
        ).all()
        assert linked == [ids["target"]]


# --- catalogue administration -------------------------------------------------------------------


def test_two_definitions_put_at_once_are_applied_one_after_the_other(sessions, watcher):
    """Each replaces the definition wholesale: the second must start from what the first
    committed, not delete rows the first already deleted (a 500)."""
    with sessions() as setup:
        city = make_jurisdiction(setup, jurisdiction_id=f"{_name()}.org")
        service = make_service(setup, city)
        catalogue_admin.replace_definition(
            setup, city, service, [_question("OLD")], now=datetime.now(UTC)
        )
        setup.commit()
        city_pk, service_pk = city.id, service.id

    def define(session: Session, code: str) -> None:
        catalogue_admin.replace_definition(
            session,
            session.get_one(Jurisdiction, city_pk),
            session.get_one(Service, service_pk),
            [_question(code)],
            now=datetime.now(UTC),
        )

    def define_and_commit() -> None:
        with sessions() as session:
            define(session, "SECOND")
            session.commit()

    with sessions() as first:
        define(first, "FIRST")
        second = Second(define_and_commit)
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    assert second.result() is None
    with sessions() as check:
        codes = check.scalars(
            select(ServiceAttribute.code).where(ServiceAttribute.service_id == service_pk)
        ).all()
        assert codes == ["SECOND"]


def _question(code: str) -> catalogue_admin.AttributeDraft:
    return catalogue_admin.AttributeDraft(code, Datatype.string, f"What about {code}?")


# --- staff users ---------------------------------------------------------------------------------


def test_two_changes_of_one_user_at_once_keep_a_crew_member_in_a_crew(
    committed_url, sessions, watcher
):
    """One administrator makes a supervisor with a crew a crew member while another takes the
    crews away: each is fine alone, together they made a crew member of no crew."""
    with sessions() as setup:
        city = make_jurisdiction(setup, jurisdiction_id=f"{_name()}.org")
        crew = make_crew(setup, make_agency(setup, city))
        user = staff.create_user(setup, _name(), password=PASSWORD, role="supervisor", crews=[crew])
        _admin, admin_token = make_staff(setup, "administrator", _name())
        setup.commit()
        user_pk, username, crew_pk = user.id, user.username, crew.id
    app = create_app({"DATABASE_URL": committed_url, "TESTING": True})
    with sessions() as first:
        # What PATCH {"role": "crew_member"} does, held before its commit.
        changing = first.get_one(StaffUser, user_pk, with_for_update=True)
        changing.role = StaffRole.crew_member
        first.flush()
        second = Second(
            lambda: app.test_client().patch(
                f"/api/v1/users/{username}", json={"crew_ids": []}, headers=bearer(admin_token)
            )
        )
        second.start_and_wait_until_blocked(watcher)
        first.commit()
    answer = second.result()
    assert not isinstance(answer, BaseException), answer
    assert answer.status_code == 400, answer.json
    with sessions() as check:
        user = check.get_one(StaffUser, user_pk)
        assert user.role is StaffRole.crew_member
        assert [crew.id for crew in user.crews] == [crew_pk]


def test_after_a_lockout_has_passed_wrong_passwords_are_counted_afresh(sessions):
    username = _name()
    with sessions() as setup:
        user = staff.create_user(setup, username, password=PASSWORD, role="supervisor")
        user.failed_logins = staff.LOCKOUT_AFTER + 3  # some guessed during the lockout too
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        setup.commit()
    for count in range(1, staff.LOCKOUT_AFTER + 1):
        assert _sign_in(sessions, username, "still not it") == "refused"
        with sessions() as check:
            user = check.scalar(select(StaffUser).where(StaffUser.username == username))
            assert user.failed_logins == count
            assert (user.locked_until is not None) is (count == staff.LOCKOUT_AFTER)


def test_a_sign_in_with_the_old_password_during_a_password_change_gets_no_token(sessions, watcher):
    """The old password was checked just before an administrator's new one was committed:
    PATCH revoked every token it found, so a token issued after it must not be."""
    username = _name()
    with sessions() as setup:
        user = staff.create_user(setup, username, password=PASSWORD, role="supervisor")
        setup.commit()
        user_pk = user.id
    with sessions() as admin:
        # What PATCH {"password": ...} does, held before its commit.
        changing = admin.get_one(StaffUser, user_pk, with_for_update=True)
        staff.set_password(changing, "a brand new password")
        staff.revoke_all(admin, changing, now=datetime.now(UTC))
        admin.flush()
        second = Second(lambda: _sign_in(sessions, username, PASSWORD))
        second.start_and_wait_until_blocked(watcher)
        admin.commit()
    assert second.result() == "refused"
    with sessions() as check:
        tokens = select(func.count()).where(StaffToken.staff_user_id == user_pk)
        assert check.scalar(tokens.select_from(StaffToken)) == 0


def test_one_code_created_twice_at_once_is_a_conflict_not_an_error(database_url):
    """Both POSTs find the agency code free; the second's INSERT waits on the unique index for
    the first and then meets its key: 409 with the error list, as a code taken earlier is, not
    a 500 (api.errors maps SQLSTATE 23505). Nothing of the second is stored. A database of its
    own: the staff catalogue needs the only jurisdiction to be this one."""
    code = _name().upper()
    with scratch_database(database_url) as url:
        engine = create_engine(url)
        sessions = make_session_factory(engine)
        with sessions() as setup:
            city = make_jurisdiction(setup)
            _admin, admin_token = make_staff(setup, "administrator", _name())
            setup.commit()
            city_pk = city.id
        app = create_app({"DATABASE_URL": url, "TESTING": True})
        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher,
            sessions() as first,
        ):
            first.add(Agency(jurisdiction_id=city_pk, code=code, name="First"))
            first.flush()
            second = Second(
                lambda: app.test_client().post(
                    "/api/v1/agencies",
                    json={"code": code, "name": "Second"},
                    headers=bearer(admin_token),
                )
            )
            second.start_and_wait_until_blocked(watcher)
            first.commit()
        answer = second.result()
        with sessions() as check:
            names = check.scalars(select(Agency.name).where(Agency.code == code)).all()
        engine.dispose()
    assert not isinstance(answer, BaseException), answer
    assert answer.status_code == 409, answer.json
    assert answer.json == [
        {"code": 409, "description": "that exists already: it was created at the same moment"}
    ]
    assert names == ["First"]
