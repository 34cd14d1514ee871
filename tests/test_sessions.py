"""Revoking a session reaches every access token and every open socket of the user."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from websockets.exceptions import ConnectionClosed

from chatql.config import Settings
from tests.helpers import ON_MESSAGE, PROTOCOLS, Client, Server, Socket, running_server

ME = "{ me { id } }"


async def closed_with(sock: Socket) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(20):
            await sock.recv(5)
    return sock.ws.close_code  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_change_password_ends_every_other_session(
    server: Server, client: Client, protocol: str
) -> None:
    alice = await client.register("alice", password="old password 1")
    other_device = await client.data(
        'mutation { login(username: "alice", password: "old password 1") '
        "{ accessToken refreshToken } }"
    )
    room = await client.create_room(alice, "r")
    sock = await Socket.connect(server, protocol, alice.token)
    await sock.ack()
    await sock.subscribe(ON_MESSAGE, {"r": room})
    await asyncio.sleep(0.1)

    changed = await client.data(
        "mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) "
        "{ accessToken refreshToken } }",
        {"o": "old password 1", "n": "new password 2"},
        alice.token,
    )
    assert await closed_with(sock) == 4401
    for token in (alice.token, other_device["login"]["accessToken"]):
        error = await client.error(ME, token=token)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }"
    stale = await client.error(refresh, {"t": other_device["login"]["refreshToken"]})
    assert stale["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await client.data(ME, token=changed["changePassword"]["accessToken"]))["me"]
    wrong = await client.error(
        'mutation { login(username: "alice", password: "old password 1") { accessToken } }'
    )
    assert wrong["extensions"]["code"] == "UNAUTHENTICATED"


async def test_change_password_checks_the_old_one_and_the_new_rules(client: Client) -> None:
    alice = await client.register("alice", password="old password 1")
    query = (
        "mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) "
        "{ accessToken } }"
    )
    wrong = await client.error(query, {"o": "not it at all", "n": "new password 2"}, alice.token)
    assert wrong["extensions"]["code"] == "UNAUTHENTICATED"
    short = await client.error(query, {"o": "old password 1", "n": "short"}, alice.token)
    assert short["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await client.data(ME, token=alice.token))["me"]  # nothing changed


async def test_logout_all_devices_closes_open_sockets(server: Server, client: Client) -> None:
    alice = await client.register("alice")
    sock = await Socket.connect(server, PROTOCOLS[0], alice.token)
    await sock.ack()
    await client.data(
        "mutation($t: String!) { logout(refreshToken: $t, allDevices: true) }",
        {"t": alice.refresh_token},
    )
    assert await closed_with(sock) == 4401


async def test_production_hides_field_suggestions(settings: Settings) -> None:
    prod = replace(settings, env="production", jwt_secret="p" * 40)
    async with running_server(prod) as server:
        client = Client(server)
        error = await client.error("{ me { usernam } }")
        assert "Did you mean" not in error["message"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        await client.close()
    async with running_server(settings) as server:  # development keeps them
        client = Client(server)
        assert "Did you mean" in (await client.error("{ me { usernam } }"))["message"]
        await client.close()
