"""Which OpenID providers this server offers, from `CHATQL_OIDC_PROVIDERS` (JSON).

`{"google": {"client_id": "…", "client_secret": "…"}}` uses the Google preset; any other key
names an OpenID Connect issuer: `{"corp": {"issuer": "https://id.example.com", "name": "Corp",
"client_id": "…", "client_secret": "…", "scopes": "openid email profile"}}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PRESETS = {"google": {"issuer": "https://accounts.google.com", "name": "Google"}}
PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
KNOWN_KEYS = {"issuer", "name", "client_id", "client_secret", "scopes"}


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"


def parse_providers(raw: str) -> dict[str, Provider]:
    """Every configured provider, or ValueError naming what is wrong."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object: {"google": {"client_id": …, …}}')
    providers: dict[str, Provider] = {}
    for key, options in data.items():
        if not PROVIDER_ID.match(key):
            raise ValueError(f"provider id {key!r} must be 1-32 of a-z, 0-9 and '-'")
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise ValueError(f"{key}: settings must be an object of strings")
        unknown = set(options) - KNOWN_KEYS
        if unknown:
            raise ValueError(f"{key}: unknown settings {', '.join(sorted(unknown))}")
        merged = {**PRESETS.get(key, {}), **options}
        for needed in ("issuer", "client_id", "client_secret"):
            if not merged.get(needed):
                raise ValueError(f"{key}: {needed} is required")
        issuer = merged["issuer"].rstrip("/")
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"{key}: issuer must be an http(s) URL")
        scopes = merged.get("scopes", "openid email profile")
        if "openid" not in scopes.split():
            raise ValueError(f"{key}: scopes must include openid")
        providers[key] = Provider(
            id=key,
            name=merged.get("name") or key.title(),
            issuer=issuer,
            client_id=merged["client_id"],
            client_secret=merged["client_secret"],
            scopes=scopes,
        )
    return providers
