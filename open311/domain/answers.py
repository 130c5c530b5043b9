"""Check a request's answers to its service definition, datatype by datatype.

Answers arrive as lists of strings per attribute code because form encoding can repeat a key
(`attribute[C][]=a&attribute[C][]=b` or `attribute[C]=a&attribute[C]=b`); only multivaluelist
may carry more than one. A code the definition does not have is ignored, not refused: clients
such as FixMyStreet send answers to a definition they read before the city changed it, and site
extras of their own (`uprn`); the caller names them in the request's service_notice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from open311.db.models import Service, ServiceAttribute
from open311.errors import InvalidInput
from open311.i18n import Text, _, english, n_
from open311.values import Datatype
from open311.wire.datetimes import format_w3c, parse_w3c

MAX_STRING = 255
MAX_TEXT = 4000
MAX_CODE = 64  # ServiceAttribute.code
MAX_IGNORED_LISTED = 20


@dataclass
class Answers:
    """What validate_answers kept (normalised, by code) and the unknown codes it ignored."""

    values: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def validate_answers(service: Service, raw: dict[str, list[str]], local: tzinfo) -> Answers:
    """Normalised answers keyed by code; InvalidInput listing every problem found. A datetime
    answer without a zone (a browser's datetime-local field) is read in `local`, the
    jurisdiction's time zone."""
    by_code = {attribute.code: attribute for attribute in service.attributes}
    problems: list[str] = []
    answers: dict[str, Any] = {}
    ignored = [code for code in raw if code not in by_code]
    for attribute in service.attributes:
        values = [v.strip() for v in raw.get(attribute.code, []) if v.strip()]
        if not attribute.variable:
            if values:
                problems.append(
                    _("attribute %(code)s is informational and takes no value", code=attribute.code)
                )
            continue
        if not values:
            if attribute.required:
                problems.append(_("attribute %(code)s is required", code=attribute.code))
            continue
        try:
            answers[attribute.code] = _check(attribute, values, local)
        except (ValueError, OverflowError) as exc:  # overflow: a datetime beyond 9999 in UTC
            reason = (
                exc.args[0] if exc.args and isinstance(exc.args[0], Text) else english(str(exc))
            )
            problems.append(_("attribute %(code)s: %(reason)s", code=attribute.code, reason=reason))
    if problems:
        raise InvalidInput(*problems)
    return Answers(answers, ignored)


def ignored_notice(codes: list[str]) -> Text:
    """What a client reads in service_notice about the answers that were not kept (at most
    MAX_IGNORED_LISTED codes, each cut to MAX_CODE characters: the codes are the client's)."""
    listed = ", ".join(code[:MAX_CODE] for code in codes[:MAX_IGNORED_LISTED])
    more = len(codes) - min(len(codes), MAX_IGNORED_LISTED)
    if more > 0:
        return n_(
            "Ignored unknown attributes: %(codes)s and %(count)s more.",
            "Ignored unknown attributes: %(codes)s and %(count)s more.",
            more,
            codes=listed,
        )
    return _("Ignored unknown attributes: %(codes)s.", codes=listed)


def _check(attribute: ServiceAttribute, values: list[str], local: tzinfo) -> Any:
    kind = attribute.datatype
    if kind == Datatype.multivaluelist:
        allowed = {value.key for value in attribute.values}
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValueError(
                _("%(values)s not among the allowed values", values=", ".join(unknown))
            )
        return list(dict.fromkeys(values))
    if len(values) > 1:
        raise ValueError(_("takes a single value"))
    value = values[0]
    if kind == Datatype.singlevaluelist:
        if value not in {v.key for v in attribute.values}:
            raise ValueError(_("%(value)s is not among the allowed values", value=value))
        return value
    if kind == Datatype.number:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(_("%(value)s is not a number", value=value)) from None
        if not math.isfinite(number):
            raise ValueError(_("%(value)s is not a finite number", value=value))
        return value
    if kind == Datatype.datetime:
        return format_w3c(parse_w3c(value, local))
    limit = MAX_TEXT if kind == Datatype.text else MAX_STRING
    if len(value) > limit:
        raise ValueError(_("longer than %(limit)s characters", limit=limit))
    if kind == Datatype.string and "\n" in value:
        raise ValueError(_("a string attribute is a single line"))
    return value
