"""One operation of /openapi.json fuzzed against its own document (schemathesis), for tests of
an endpoint whose arguments relate in ways no schema can state (`refusals`: the 400s that are
such a rule, not a contract break)."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance


def fuzz_operation(
    app, path_suffix: str, refusals: re.Pattern[str], examples: int = 40
) -> list[str]:
    """Failures ('title: status body <- query') of the operation whose path ends in
    `path_suffix`, in positive and negative modes, every check but positive acceptance of a
    known refusal; a 5xx fails at once."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [c for c in CHECKS.get_all() if c is not positive_data_acceptance]
    failures: list[str] = []

    def acceptance(ctx, response, case):
        if response.status_code == 400 and refusals.search(response.text):
            return None
        return positive_data_acceptance(ctx, response, case)

    (operation,) = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.endswith(path_suffix)
    ]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(app=app)
            assert response.status_code < 500, response.text
            try:
                case.validate_response(
                    response, checks=[*checks, acceptance], transport_kwargs={"app": app}
                )
            except FailureGroup as group:
                failures.extend(
                    f"{f.title}: {response.status_code} {response.text[:150]} <- {case.query!r}"
                    for f in group.exceptions
                )

        run()
    return failures
