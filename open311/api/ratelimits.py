"""Rate limits: writes per API client, reads per client or address, exports and sign-in apart.

Each call is counted under the policies of its kind (README: Rate limits):

- `writes`: POST requests, POST servicerequestupdates, POST and DELETE webhooks, per API client,
  at the client's own limit (api_client.rate_limit) or OPEN311_RATE_LIMIT_WRITES. A client is
  known only once the view has read the body and checked the api_key, so the count is taken at
  that moment (domain.apikeys.on_authenticated), before any work is stored; a write without a
  valid key is refused with 403 as before and counts against nothing.
- `reads`: the other GeoReport calls, per client when the X-API-Key header or the query
  carries a valid api_key (at the client's own limit, else OPEN311_RATE_LIMIT_READS), else per
  address at OPEN311_RATE_LIMIT_READS.
- `exports`: the bulk exports, OPEN311_RATE_LIMIT_EXPORTS per client or address: a file of
  millions of rows costs more than a page, whatever the client's own limit.
- the pages (the public site, the staff console, tiles): per address, a form's POST against
  `writes` and anything else against `reads`.
- `login-ip` and `login-user`: POST /api/v1/login and the console's sign-in, per address and
  per username, each checked before the password's slow hash is computed.

The address is request.remote_addr (the client's own behind the one trusted proxy); an IPv6
address counts as its /64, which one subscriber commonly holds whole.

The counts are fixed windows in Redis (REDIS_URL, else the project-local one of `open311 redis
up`), shared by every gunicorn worker and every node; a window's count starts again at its end,
so the headers can say exactly when. When Redis cannot be reached the limits are not applied
(fail open, one log line per outage, Redis asked again after PAUSE_AFTER_FAILURE_S): an outage of
a counter should not take the API down with it.

Built on `limits` rather than flask-limiter: flask-limiter decides a call's key and limit in a
decorator before the view runs, but a write's client and its own limit are known only once the
view has read the body and the client's row; and the answers are ours to write either way (a
GeoReport error list in the format asked for, the IETF draft's header fields), which
flask-limiter does not.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from redis.backoff import NoBackoff
from redis.retry import Retry

from open311.api import database
from open311.api.georeport_base import API_KEY_HEADER
from open311.config import Settings
from open311.db.models import ApiClient
from open311.domain import apikeys
from open311.errors import InvalidApiKey, RateLimited
from open311.i18n import _

log = logging.getLogger(__name__)

EXTENSION = "open311.ratelimits"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Redis is on loopback or a nearby host: a call that takes longer than this is an outage.
TIMEOUT_S = 0.5
# After a failure, this long without asking Redis: the calls go on unlimited and undelayed.
PAUSE_AFTER_FAILURE_S = 5.0
KEY_PREFIX = "open311"


@dataclass(frozen=True)
class Policy:
    """A quota: its name in the RateLimit fields, the setting with its (default) limit, and
    what it counts, for the 429's message."""

    name: str
    setting: str
    counts: str


WRITES_POLICY = Policy("writes", "OPEN311_RATE_LIMIT_WRITES", _("writes"))
READS_POLICY = Policy("reads", "OPEN311_RATE_LIMIT_READS", _("calls"))
EXPORTS_POLICY = Policy("exports", "OPEN311_RATE_LIMIT_EXPORTS", _("exports"))
LOGIN_IP_POLICY = Policy("login-ip", "OPEN311_RATE_LIMIT_LOGIN_IP", _("sign-ins"))
LOGIN_USER_POLICY = Policy("login-user", "OPEN311_RATE_LIMIT_LOGIN_USER", _("sign-ins"))
# The 429's window, "1 minute" as `limits` says it, in words a catalogue can translate.
WINDOWS = {
    "second": lambda n: _("%(n)s second", n=n),
    "minute": lambda n: _("%(n)s minute", n=n),
    "hour": lambda n: _("%(n)s hour", n=n),
    "day": lambda n: _("%(n)s day", n=n),
    "month": lambda n: _("%(n)s month", n=n),
    "year": lambda n: _("%(n)s year", n=n),
}
WHO = {
    "this API client": _("this API client"),
    "this address": _("this address"),
    "this username": _("this username"),
}


def _window(words: str) -> str:
    """`limits`' "1 minute" as a Text, when it has that shape."""
    number, _space, unit = words.partition(" ")
    return WINDOWS[unit](number) if unit in WINDOWS else words


POLICIES = (WRITES_POLICY, READS_POLICY, EXPORTS_POLICY, LOGIN_IP_POLICY, LOGIN_USER_POLICY)


@dataclass(frozen=True)
class Count:
    """One limit as this call left it: what the RateLimit fields report."""

    name: str
    quota: int
    window_s: int
    remaining: int
    # Seconds until the window ends and its count starts again from zero.
    reset_s: int
    exceeded: bool


class Counter:
    """Fixed-window counts in one Redis, failing open while it cannot be reached."""

    def __init__(self, url: str) -> None:
        # No connection is made here: the first count connects (an app is built without Redis).
        self.storage = RedisStorage(
            url,
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            # One retry, without a pause: a pooled connection that a Redis restart closed fails
            # once, and the retry connects afresh; redis-py's default backs off for seconds.
            retry=Retry(NoBackoff(), 1),
        )
        parts = urlsplit(url)
        # Where Redis is, for the log: never the password the URL may carry.
        self.where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._failing = False

    def count(self, name: str, items: Sequence[RateLimitItem], *identity: str) -> list[Count]:
        """Count one call against each of `items` for `identity`; [] when Redis is out of
        reach (the call is then not limited)."""
        with self._lock:
            if time.monotonic() < self._paused_until:
                return []
        try:
            counts = [
                self._hit(self._name(name, index, items), item, identity)
                for index, item in enumerate(items)
            ]
        except StorageError as error:
            with self._lock:
                self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
                first = not self._failing
                self._failing = True
            if first:
                log.warning(
                    "rate limits not applied: Redis at %s cannot be reached (%s); "
                    "calls go on unlimited, Redis is asked again every %.0f s",
                    self.where,
                    error.storage_error,
                    PAUSE_AFTER_FAILURE_S,
                )
            return []
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.warning("rate limits applied again: Redis at %s answers", self.where)
        return counts

    @staticmethod
    def _name(name: str, index: int, items: Sequence[RateLimitItem]) -> str:
        return name if len(items) == 1 else f"{name}-{index + 1}"

    def _hit(self, name: str, item: RateLimitItem, identity: Sequence[str]) -> Count:
        """A fixed window, as limits' FixedWindowRateLimiter counts it (hit, then
        get_window_stats), in two round trips instead of three: the count the increment
        returns is the one that hit compares and that the remaining quota is taken from."""
        key = item.key_for(name, *identity)
        count = self.storage.incr(key, item.get_expiry())
        ends_at = self.storage.get_expiry(key)
        return Count(
            name=name,
            quota=item.amount,
            window_s=item.get_expiry(),
            remaining=max(0, item.amount - count),
            reset_s=max(1, math.ceil(ends_at - time.time())),
            exceeded=count > item.amount,
        )


@lru_cache(maxsize=1024)
def parse(text: str) -> tuple[RateLimitItem, ...]:
    """A limit in `limits` notation, read once per process."""
    return tuple(parse_many(text))


def init_app(app: Flask) -> None:
    """Check the limit settings (a typo fails at start, not on the first call), make the
    app's counter and add the RateLimit fields to every counted answer."""
    for policy in POLICIES:
        try:
            parse(app.config[policy.setting])
        except ValueError:
            raise ValueError(
                f"{policy.setting}={app.config[policy.setting]!r} is not a rate limit; "
                "write it as e.g. 60/minute or 10/second;600/minute"
            ) from None
    url = Settings.from_config(app.config).resolved_redis_url()
    app.extensions[EXTENSION] = Counter(url)
    app.after_request(_add_fields)


def redis_answers() -> bool | None:
    """Whether the rate limits' Redis answers a ping now (/readyz); None while the limits are
    off (OPEN311_RATE_LIMITS=off), when Redis is not needed."""
    if not _enabled():
        return None
    return bool(_counter().storage.check())


def _enabled() -> bool:
    return bool(current_app.config["OPEN311_RATE_LIMITS"])


def _counter() -> Counter:
    return current_app.extensions[EXTENSION]


def client_address() -> str:
    """The caller's address as the limits count it: IPv4 as is, IPv6 as its /64 network."""
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def _charge(policy: Policy, limit: str, whose: str, *identity: str) -> None:
    """Count this call under `policy` at `limit` for `identity`; RateLimited when a limit is
    exceeded. `whose` names the identity in the message ("this API client")."""
    items = parse(limit)
    counts = _counter().count(policy.name, items, *identity)
    g.setdefault("rate_counts", []).extend(counts)
    # No counts at all while Redis is out of reach; else one per item.
    pairs = zip(items, counts, strict=False)
    exceeded = [(item, count) for item, count in pairs if count.exceeded]
    if exceeded:
        item, _count = exceeded[0]
        # "60 per 1 minute" -> "1 minute"
        window = _window(str(item).split(" per ", 1)[1])
        retry_after_s = max(count.reset_s for _item, count in exceeded)
        raise RateLimited(
            _(
                "too many requests: at most %(amount)s %(counts)s per %(window)s for %(whose)s; "
                "try again in %(seconds)s s",
                amount=item.amount,
                counts=policy.counts,
                window=window,
                whose=WHO.get(whose, whose),
                seconds=retry_after_s,
            ),
            retry_after_s=retry_after_s,
        )


def _own_limit(client: ApiClient, policy: Policy) -> str:
    """The client's own limit if it has a readable one, else the policy's setting."""
    if client.rate_limit:
        try:
            parse(client.rate_limit)
            return client.rate_limit
        except ValueError:
            # Only SQL by hand gets one past check_rate_limit: say so, count at the default.
            log.warning("api client %s: unreadable rate_limit %r", client.id, client.rate_limit)
    return current_app.config[policy.setting]


def _charge_write(client: ApiClient) -> None:
    limit = _own_limit(client, WRITES_POLICY)
    _charge(WRITES_POLICY, limit, "this API client", "client", str(client.id))


def _query_client() -> ApiClient | None:
    """The client whose valid key the X-API-Key header or the query's api_key carries; None
    for none or a wrong one (a read needs no key, so a wrong one is only not counted as the
    client's)."""
    key = request.headers.get(API_KEY_HEADER, "").strip() or request.args.get("api_key")
    if not key:
        return None
    try:
        return apikeys.authenticate(database.session(), key)
    except InvalidApiKey:
        return None


def _charge_read(policy: Policy, own_limit: bool) -> None:
    client = _query_client()
    if client is None:
        limit = current_app.config[policy.setting]
        _charge(policy, limit, "this address", "address", client_address())
    else:
        limit = _own_limit(client, policy) if own_limit else current_app.config[policy.setting]
        _charge(policy, limit, "this API client", "client", str(client.id))


def limit_calls() -> None:
    """A before-request hook of the GeoReport blueprints: a write is counted against its
    client's limit once the view has checked the api_key; any other call against `reads`."""
    if not _enabled():
        return
    if request.method in WRITES:
        apikeys.on_authenticated(database.session(), _charge_write)
    else:
        _charge_read(READS_POLICY, own_limit=True)


def limit_page() -> None:
    """A before-request hook of the pages (web.pages): they take no api_key, so each call
    counts against the address: a form's POST (filing, sign-in) against `writes`, any other
    page or tile against `reads`."""
    if not _enabled():
        return
    policy = WRITES_POLICY if request.method in WRITES else READS_POLICY
    limit = current_app.config[policy.setting]
    _charge(policy, limit, "this address", "address", client_address())


def limit_exports() -> None:
    """A before-request hook of the exports blueprint: every call counts against `exports`."""
    if _enabled():
        _charge_read(EXPORTS_POLICY, own_limit=False)


def limit_sign_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the sign-in view, under its arguments decorator (it takes the parsed body):
    the call counts against the address's and the username's limits before the password is
    hashed, so neither guessing from one address nor at one account goes fast."""

    @wraps(view)
    def wrapper(body: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if _enabled():
            config = current_app.config
            by_address = config[LOGIN_IP_POLICY.setting]
            _charge(LOGIN_IP_POLICY, by_address, "this address", "address", client_address())
            # A digest: usernames are the caller's text, of any length and any character.
            username = str(body.get("username", "")).strip().lower()
            digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:32]
            by_user = config[LOGIN_USER_POLICY.setting]
            _charge(LOGIN_USER_POLICY, by_user, "this username", "user", digest)
        return view(body, *args, **kwargs)

    return wrapper


def _add_fields(response: Response) -> Response:
    """The RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-11
    (the current draft: named policies as structured-field lists, `q` quota and `w` window in
    the policy, `r` remaining and `t` seconds to the window's end in the limit), e.g.
    `RateLimit-Policy: "writes";q=60;w=60` and `RateLimit: "writes";r=0;t=17`."""
    counts = g.get("rate_counts")
    if counts:
        latest = {count.name: count for count in counts}.values()
        response.headers["RateLimit-Policy"] = ", ".join(
            f'"{c.name}";q={c.quota};w={c.window_s}' for c in latest
        )
        response.headers["RateLimit"] = ", ".join(
            f'"{c.name}";r={c.remaining};t={c.reset_s}' for c in latest
        )
    return response
