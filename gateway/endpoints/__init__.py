"""The gateway's own HTTP endpoints, one small module each. ``gateway.server``
only wires them to routes; each reads what it needs from ``request.app.state``:

- ``gateway``: the running ``Gateway`` (absent until start-up has finished),
- ``settings``: the ``Settings`` the app was built from,
- ``graphql_view``: the strawberry view that serves ``/graphql``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from gateway.runtime import Gateway


def gateway_of(request: Request) -> Gateway:
    """The running gateway (routes behind ``/graphql`` and the REST downloads only
    run after start-up, so it is there)."""
    gateway: Gateway = request.app.state.gateway
    return gateway


def started_gateway(request: Request) -> Gateway | None:
    """The gateway, or None while the app is still starting (probes answer that)."""
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    return gateway
