"""The staff API under /api/v1: JSON only, bearer tokens, roles (README "Staff API")."""
