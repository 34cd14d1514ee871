"""The development GraphiQL page, served entirely from local assets.

The JS/CSS are not in the repository: ``scripts/build_graphiql_assets.py`` (run by
``make install``) installs them from npm using web/graphiql/package-lock.json and copies
them into :data:`STATIC_DIR`. The app serves that directory (for example with Starlette's
``StaticFiles``) under ``static_prefix`` and returns :func:`render_graphiql_page` for
``GET /graphql``. The page references no external URL, so it works offline.

Queries and mutations go over HTTP POST through GraphiQL's own fetcher, which sends the
headers from GraphiQL's headers editor. Subscriptions use a graphql-ws client (protocol
``graphql-transport-ws``) on the same host and path; the same headers editor content is
sent as the ``connection_init`` payload (``connectionParams``), with any
``authorization`` key normalised to ``Authorization``. A change of headers opens a new
socket with the new parameters on the next subscription.

The bootstrap script and style are constants and the page configuration travels in a
non-executable JSON block, so :func:`content_security_policy` can allow exactly those by
hash: no ``'unsafe-inline'`` and no ``'unsafe-eval'``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import Final

__all__ = [
    "ASSET_FILES",
    "STATIC_DIR",
    "assets_available",
    "content_security_policy",
    "render_graphiql_page",
]

STATIC_DIR: Final[Path] = Path(__file__).resolve().parent / "static" / "graphiql"

# Must match the names scripts/build_graphiql_assets.py copies into STATIC_DIR.
ASSET_FILES: Final[tuple[str, ...]] = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphql-ws.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
)

_SCRIPTS: Final[tuple[str, ...]] = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphql-ws.min.js",
    "graphiql.min.js",
)
_STYLESHEET: Final[str] = "graphiql.min.css"
_CONFIG_ELEMENT_ID: Final[str] = "chatql-graphiql-config"

_PAGE_STYLE: Final[str] = """
html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
.chatql-graphiql-error { font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto;
  padding: 0 1em; }
"""

# Plain ES5-compatible JS; reads its configuration from the JSON block so that this text
# (and therefore its CSP hash) never changes.
_BOOT_SCRIPT: Final[str] = """
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  function fail(message) {
    root.className = "chatql-graphiql-error";
    root.textContent = message;
  }
  if (typeof React === "undefined" || typeof ReactDOM === "undefined" ||
      typeof GraphiQL === "undefined" || typeof graphqlWs === "undefined") {
    fail("The GraphiQL assets did not load. Run `make install` (which runs " +
         "scripts/build_graphiql_assets.py) and restart the server.");
    return;
  }
  var config = JSON.parse(document.getElementById("chatql-graphiql-config").textContent);
  var httpUrl = new URL(config.graphqlPath, window.location.href);
  httpUrl.search = "";
  httpUrl.hash = "";
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";

  function connectionParamsFrom(headers) {
    var params = {};
    Object.keys(headers || {}).forEach(function (name) {
      var value = headers[name];
      if (/^authorization$/i.test(name)) {
        params.Authorization = String(value);
      } else {
        params[name] = value;
      }
    });
    return params;
  }

  var wsClient = null;
  var wsClientKey = null;
  function wsClientFor(headers) {
    var params = connectionParamsFrom(headers);
    var key = JSON.stringify(params);
    if (wsClient === null || key !== wsClientKey) {
      if (wsClient !== null) {
        wsClient.dispose();
      }
      // lazy: the socket opens on the first subscription and closes when none is active.
      wsClient = graphqlWs.createClient({ url: wsUrl.href, connectionParams: params, lazy: true });
      wsClientKey = key;
    }
    return wsClient;
  }

  function fetcher(graphQLParams, options) {
    var headers = (options && options.headers) || {};
    return GraphiQL.createFetcher({
      url: httpUrl.href,
      subscriptionUrl: wsUrl.href,
      wsClient: wsClientFor(headers)
    })(graphQLParams, options);
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true })
  );
})();
"""

_MISSING_TEMPLATE: Final[str] = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL unavailable - ChatQL</title>
<style>{style}</style>
</head>
<body>
<div class="chatql-graphiql-error">
<h1>GraphiQL assets are not installed</h1>
<p>The in-browser IDE needs JavaScript and CSS files that are installed from npm at
install time, and they were not found in <code>{static_dir}</code>.</p>
<p>Run <code>make install</code> (which runs
<code>python scripts/build_graphiql_assets.py</code>; it needs Node.js and npm), then
restart the server and reload this page.</p>
<p>The GraphQL API itself works without them: send POST requests to
<code>{graphql_path}</code>, or subscribe over WebSocket at the same path.</p>
</div>
</body>
</html>
"""

_PAGE_TEMPLATE: Final[str] = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL - ChatQL</title>
<link rel="stylesheet" href="{stylesheet}">
<style>{style}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL...</div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script type="application/json" id="{config_id}">{config}</script>
{scripts}
<script>{boot}</script>
</body>
</html>
"""


def assets_available() -> bool:
    """True when every file the page loads is present (and non-empty) in STATIC_DIR."""
    for name in ASSET_FILES:
        try:
            if (STATIC_DIR / name).stat().st_size == 0:
                return False
        except OSError:
            return False
    return True


def _asset_url(static_prefix: str, name: str) -> str:
    return html.escape(f"{static_prefix.rstrip('/')}/{name}", quote=True)


def _json_for_html(value: object) -> str:
    """JSON that cannot close or confuse the surrounding <script> element."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_graphiql_page(
    graphql_path: str = "/graphql", static_prefix: str = "/graphiql/static"
) -> str:
    """The GraphiQL HTML page, or a short explanation when the assets are not installed.

    ``graphql_path`` is the HTTP endpoint; the WebSocket URL is derived from it in the
    browser (``ws:``/``wss:`` matching the page, same host). Asset URLs are
    ``static_prefix`` + ``/`` + file name.
    """
    if not assets_available():
        return _MISSING_TEMPLATE.format(
            style=_PAGE_STYLE,
            static_dir=html.escape(str(STATIC_DIR)),
            graphql_path=html.escape(graphql_path),
        )
    scripts = "\n".join(
        f'<script src="{_asset_url(static_prefix, name)}"></script>' for name in _SCRIPTS
    )
    return _PAGE_TEMPLATE.format(
        stylesheet=_asset_url(static_prefix, _STYLESHEET),
        style=_PAGE_STYLE,
        config_id=_CONFIG_ELEMENT_ID,
        config=_json_for_html({"graphqlPath": graphql_path}),
        scripts=scripts,
        boot=_BOOT_SCRIPT,
    )


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy() -> str:
    """A Content-Security-Policy header value suited to both pages render_graphiql_page returns.

    Scripts and styles come from the app's own origin, plus the page's one inline script and
    one inline style, allowed by hash. ``connect-src 'self'`` covers the same-origin
    ``ws:``/``wss:`` subscription socket in current browsers. Fonts and icons are embedded
    in the stylesheet as ``data:`` URIs.
    """
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {_csp_hash(_BOOT_SCRIPT)}",
            f"style-src 'self' {_csp_hash(_PAGE_STYLE)}",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
