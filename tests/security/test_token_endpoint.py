"""The API token goes only to the endpoint it was configured with.

A datastore whose template names its own StorPool API (SP_API_HTTP_HOST/PORT) but no
SP_AUTH_TOKEN must not receive the front-end's token: the action fails with one
configuration error and nothing reaches that address. With its own token, the datastore's
API (a second emulator, which refuses any other token) gets exactly that one.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

from onesp.runtime import storpoolapi as storpool
from onesp.sim.storpool import StorPoolSim, new_token

MIB = 1024 * 1024


class Listener:
    """A plain TCP listener that records every byte sent to it and answers nothing useful."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received: List[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                self.received.append(data)
                conn.sendall(b"HTTP/1.0 500 Nope\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    plain = Listener()
    try:
        yield plain
    finally:
        plain.close()


@pytest.fixture
def second_cluster(tmp_path: Path) -> Iterator[StorPoolSim]:
    sim = StorPoolSim(tmp_path / "b", tmp_path / "b-dev" / "storpool", token=new_token(), clients=range(1, 17))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def image_on(stack, ds_template, create_volume=True) -> bytes:
    xml = stack.put_image(5, persistent=True, data=b"data" if create_volume else b"", state=1,
                          create_volume=create_volume)
    return stack.ds_action(stack.put_datastore(100, template=ds_template), xml)


def test_a_datastore_api_without_its_own_token_never_gets_the_front_ends(stack, listener):
    stdin = image_on(stack, {"SP_API_HTTP_HOST": "127.0.0.1", "SP_API_HTTP_PORT": str(listener.port)})
    before = stack.state()
    r = stack.ds("rm", "5", stdin=stdin)
    assert r.code != 0 and r.error_lines == [
        "ds rm: configuration error: SP_API_HTTP_PORT in datastore 100 points the "
        "StorPool API at 127.0.0.1:%d without an SP_AUTH_TOKEN of its own; the token from environment variable "
        "SP_AUTH_TOKEN is sent only to %s:%s (set SP_AUTH_TOKEN there too)"
        % (listener.port, stack.env["SP_API_HTTP_HOST"], stack.env["SP_API_HTTP_PORT"])], r
    assert listener.received == []  # not even a connection, let alone the token
    assert stack.state() == before


def test_a_datastore_api_with_its_own_token_gets_only_that_token(stack, second_cluster, listener):
    host, port = second_cluster.env["SP_API_HTTP_HOST"], second_cluster.env["SP_API_HTTP_PORT"]
    theirs = storpool.StorPool(host, int(port), second_cluster.token)
    theirs.volume_create("one-img-5", size=MIB)
    stdin = image_on(stack, {"SP_API_HTTP_HOST": host, "SP_API_HTTP_PORT": port,
                             "SP_AUTH_TOKEN": second_cluster.token})
    r = stack.ds("rm", "5", stdin=stdin, env={"ONESP_DELAY_DELETE": ""})
    assert r.ok, r  # the second emulator refuses any token but its own
    assert theirs.volume_or_none("one-img-5") is None
    assert "one-img-5" in stack.volume_names()  # the front-end's cluster is not touched

    # the same datastore's own token, pointed at the plain listener: that token, never the front-end's
    stdin = image_on(stack, {"SP_API_HTTP_HOST": "127.0.0.1", "SP_API_HTTP_PORT": str(listener.port),
                             "SP_AUTH_TOKEN": second_cluster.token}, create_volume=False)
    r = stack.ds("rm", "5", stdin=stdin, env={"ONESP_STORPOOL_RETRIES": "0"})
    assert r.code != 0 and len(r.error_lines) == 1, r
    seen = b"".join(listener.received)
    assert second_cluster.token.encode() in seen and stack.token.encode() not in seen
