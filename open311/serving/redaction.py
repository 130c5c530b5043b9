"""What access logs leave out: the values of query parameters that are secrets or personal.

A client may send its api_key in the query (GeoReport's place for it on GETs and on webhooks),
so a request line as written would put the key in every access log and every copy of one.
nginx's log format (nginx.py) and gunicorn's access log (gunicorn.py) write such a value as
PLACEHOLDER instead; both use the names below, nginx as a PCRE, gunicorn as this module's regex.
"""

from __future__ import annotations

import re

PLACEHOLDER = "[REDACTED]"
# A parameter is left out when its name holds one of these (any case: api_key, X_Api_Key,
# token, access_token, password, client_secret; email and phone, which the privacy export is
# asked by), or a %-escape, which could spell any of them (api%5Fkey is api_key to the app).
SECRET_NAME_PARTS = ("key", "token", "passw", "secret", "email", "phone", "%")
# Headers whose whole value is a secret, should a log format name them.
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key"})

# (No '/' in a name: at the start of the text that is a path, not a bare query string.)
_NAME = "[^?&;=\\s/]*(?:" + "|".join(re.escape(part) for part in SECRET_NAME_PARTS) + ")[^&;=\\s/]*"
# name=value after the start of a query (or of the text: a bare query string), '&' or ';'; the
# value runs to the next separator, '#', whitespace or quote.
_SECRET_PARAMETER = re.compile(f'(?i)((?:^|[?&;]){_NAME}=)[^&;#\\s"]*')


def redact(text: str) -> str:
    """`text` (a request line, a URL or a query string) with each secret parameter's value
    replaced by PLACEHOLDER: `GET /open311/v2/webhooks.json?api_key=abc HTTP/1.1` is logged as
    `GET /open311/v2/webhooks.json?api_key=[REDACTED] HTTP/1.1`."""
    if "=" not in text:
        return text
    return _SECRET_PARAMETER.sub(lambda match: match.group(1) + PLACEHOLDER, text)
