"""Request and response bodies of catalogue administration (staff API).

Bodies reject unknown fields (a typo is a 400, not a silent no-op); the structured ones load into
the domain's drafts, whose cross-field rules live in domain/catalogue_admin.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from open311.api.smorest import StaffBody
from open311.domain import apikeys
from open311.domain.catalogue_admin import CODE, AttributeDraft, RuleDraft, StepDraft
from open311.errors import InvalidInput
from open311.values import CrewKind, CrewRole, Datatype, ServiceType, SlaClock

NAME = validate.Length(min=1, max=255)


CODE_RULE = validate.Regexp(
    CODE,
    error="{input!r} must start with a letter or digit and hold only letters, digits, '.', '_' "
    "or '-'",
)


def _code(max_length: int = 64, **kwargs: Any) -> fields.String:
    """A code as catalogue_admin holds codes to CODE, stated in /openapi.json too."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), CODE_RULE], **kwargs)


def _ref(read: Callable[[Any], Any], kind: str = "string") -> fields.Function:
    """An output field read through a relationship; null when there is nothing to read."""
    return fields.Function(read, metadata={"type": kind, "nullable": True})


def _code_of(name: str) -> Callable[[Any], str | None]:
    def read(obj: Any) -> str | None:
        related = getattr(obj, name)
        return related.code if related is not None else None

    return read


# --- services and definitions -------------------------------------------------------------------


class ServiceFields(StaffBody):
    service_name = fields.String(validate=NAME)
    description = fields.String(allow_none=True)
    group = fields.String(allow_none=True, validate=validate.Length(max=255))
    keywords = fields.String(allow_none=True)
    type = fields.Enum(ServiceType, by_value=True)
    agency_responsible = fields.String(allow_none=True, validate=validate.Length(max=255))
    service_notice = fields.String(allow_none=True)
    active = fields.Boolean()


class ServiceBody(ServiceFields):
    service_code = _code(required=True)
    service_name = fields.String(required=True, validate=NAME)


class ServiceChangeBody(ServiceFields):
    """Only the fields sent change; service_code cannot (clients and requests know it)."""


class AttributeValueBody(StaffBody):
    key = fields.String(required=True, validate=NAME)
    name = fields.String(required=True, validate=NAME)


class AttributeBody(StaffBody):
    code = _code(required=True)
    datatype = fields.Enum(Datatype, by_value=True, required=True)
    description = fields.String(required=True, validate=validate.Length(min=1))
    required = fields.Boolean(load_default=False)
    variable = fields.Boolean(load_default=True)
    datatype_description = fields.String(load_default=None, allow_none=True)
    values = fields.List(
        fields.Nested(AttributeValueBody),
        load_default=list,
        metadata={"description": "Only, and at least one, for single/multivaluelist."},
    )

    @post_load
    def draft(self, data: dict[str, Any], **_kwargs: Any) -> AttributeDraft:
        values = tuple((value["key"], value["name"]) for value in data.pop("values"))
        return AttributeDraft(**data, values=values)


class DefinitionBody(StaffBody):
    attributes = fields.List(
        fields.Nested(AttributeBody),
        required=True,
        metadata={"description": "The whole definition, in order; [] removes it."},
    )


class AttributeValueOut(Schema):
    key = fields.String()
    name = fields.String()


class AttributeOut(Schema):
    code = fields.String()
    datatype = fields.Enum(Datatype, by_value=True)
    required = fields.Boolean()
    variable = fields.Boolean()
    description = fields.String()
    datatype_description = fields.String(allow_none=True)
    order = fields.Integer(attribute="position")
    values = fields.List(fields.Nested(AttributeValueOut))


class ServiceOut(Schema):
    service_code = fields.String()
    service_name = fields.String()
    description = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    keywords = fields.String(allow_none=True)
    type = fields.Enum(ServiceType, by_value=True)
    agency_responsible = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    active = fields.Boolean()
    metadata = fields.Boolean(attribute="metadata_")


class ServiceDetailOut(ServiceOut):
    attributes = fields.List(fields.Nested(AttributeOut))


# --- routing rules ------------------------------------------------------------------------------


class RoutingRuleBody(StaffBody):
    agency = _code(32, required=True, metadata={"description": "Agency code."})
    layer = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Boundary layer name."}
    )
    fallback_crew_id = fields.Integer(load_default=None, allow_none=True)
    workflow = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Workflow code."}
    )
    sla_days = fields.Float(
        load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False)
    )
    sla_clock = fields.Enum(SlaClock, by_value=True, load_default=SlaClock.business)

    @post_load
    def draft(self, data: dict[str, Any], **_kwargs: Any) -> RuleDraft:
        return RuleDraft(**data)


class RoutingRuleOut(Schema):
    service_code = fields.Function(lambda rule: rule.service.service_code)
    agency = _ref(_code_of("agency"))
    layer = _ref(lambda rule: rule.layer.name if rule.layer is not None else None)
    fallback_crew_id = fields.Integer()
    workflow = _ref(_code_of("workflow"))
    sla_days = fields.Float()
    sla_clock = fields.Enum(SlaClock, by_value=True)


# --- workflows ----------------------------------------------------------------------------------

HOURS = validate.Range(min=0, min_inclusive=False)


class StepBody(StaffBody):
    code = _code(required=True)
    name = fields.String(required=True, validate=NAME)
    agency = fields.String(
        load_default=None, allow_none=True, metadata={"description": "null: the rule's agency."}
    )
    crew_role = fields.Enum(CrewRole, by_value=True, load_default=CrewRole.district)
    crew_id = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "Only for crew_role fixed."}
    )
    target_hours = fields.Float(required=True, validate=HOURS)
    wait_hours = fields.Float(load_default=0.0, validate=validate.Range(min=0))
    next_step = fields.String(load_default=None, allow_none=True)
    outcomes = fields.Dict(
        keys=fields.String(
            validate=validate.Length(min=1, max=64, error="an outcome's name is 1 to 64 characters")
        ),
        values=fields.String(allow_none=True),
        load_default=dict,
        metadata={"description": "outcome -> step code, or null to finish."},
    )
    public_note = fields.String(load_default=None, allow_none=True)

    @post_load
    def draft(self, data: dict[str, Any], **_kwargs: Any) -> StepDraft:
        return StepDraft(**data)


class WorkflowChangeBody(StaffBody):
    name = fields.String(required=True, validate=NAME)
    steps = fields.List(
        fields.Nested(StepBody),
        required=True,
        validate=validate.Length(min=1, error="a workflow has at least one step"),
    )


class WorkflowBody(WorkflowChangeBody):
    code = _code(required=True)


class StepOut(Schema):
    code = fields.String()
    name = fields.String()
    agency = _ref(_code_of("agency"))
    crew_role = fields.Enum(CrewRole, by_value=True)
    crew_id = fields.Integer(allow_none=True)
    target_hours = fields.Float()
    wait_hours = fields.Float()
    next_step = fields.String(allow_none=True)
    outcomes = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    public_note = fields.String(allow_none=True)


class WorkflowOut(Schema):
    code = fields.String()
    name = fields.String()
    steps = fields.List(fields.Nested(StepOut))


# --- agencies and crews -------------------------------------------------------------------------


class AgencyBody(StaffBody):
    code = _code(32, required=True)
    name = fields.String(required=True, validate=NAME)


class AgencyChangeBody(StaffBody):
    name = fields.String(required=True, validate=NAME)


class AgencyOut(Schema):
    code = fields.String()
    name = fields.String()


class CrewChangeBody(StaffBody):
    name = fields.String(validate=NAME)
    kind = fields.Enum(CrewKind, by_value=True)
    district_ids = fields.List(
        fields.Integer(),
        metadata={"description": "Every district the crew covers (field crews only)."},
    )


class CrewBody(CrewChangeBody):
    agency = _code(32, required=True, metadata={"description": "Agency code."})
    code = _code(required=True)
    name = fields.String(required=True, validate=NAME)
    kind = fields.Enum(CrewKind, by_value=True, load_default=CrewKind.field)
    district_ids = fields.List(fields.Integer(), load_default=list)


class DistrictOut(Schema):
    id = fields.Integer()
    layer = fields.Function(lambda district: district.layer.name)
    name = fields.String()


class CrewOut(Schema):
    id = fields.Integer()
    agency = fields.Function(lambda crew: crew.agency.code)
    code = fields.String()
    name = fields.String()
    kind = fields.Enum(CrewKind, by_value=True)
    districts = fields.List(fields.Nested(DistrictOut))


# --- API clients --------------------------------------------------------------------------------


def _rate_limit(value: str | None) -> None:
    """A 400 for text `limits` cannot read, before anything is stored (as the CLI refuses it)."""
    try:
        apikeys.check_rate_limit(value)
    except InvalidInput as error:
        raise ValidationError(error.problems[0].removeprefix("rate_limit: ")) from None


RATE_LIMIT = {
    "metadata": {
        "description": "The client's own rate limit (`limits` notation: 600/minute, "
        "10/second;600/minute); null: the server's defaults (OPEN311_RATE_LIMIT_WRITES, "
        "OPEN311_RATE_LIMIT_READS).",
        "example": "600/minute",
        "pattern": apikeys.RATE_LIMIT_SYNTAX.pattern,
        "maxLength": apikeys.RATE_LIMIT_LENGTH,
    },
}


class ApiClientBody(StaffBody):
    name = fields.String(required=True, validate=NAME)
    rate_limit = fields.String(allow_none=True, validate=_rate_limit, **RATE_LIMIT)


class ApiClientChangeBody(StaffBody):
    name = fields.String(validate=NAME)
    rate_limit = fields.String(allow_none=True, validate=_rate_limit, **RATE_LIMIT)


class ApiClientOut(Schema):
    id = fields.Integer()
    name = fields.String()
    key_prefix = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()
    rate_limit = fields.String(allow_none=True, **RATE_LIMIT)


class ApiKeyOut(ApiClientOut):
    """A client with its new key, dumped from a catalogue.NewApiKey."""

    api_key = fields.String(metadata={"description": "Shown this once; only a hash is kept."})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        source = obj if attr == "api_key" else obj.client
        return super().get_attribute(source, attr, default)
