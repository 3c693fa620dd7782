"""Endpoint, session and timeout resolution, in the oned CLI's order; the session never leaks."""

from __future__ import annotations

import pytest

from onesp.one import OneClient, endpoint, resolve_endpoint
from onesp.one.endpoint import resolve_session, resolve_timeout
from onesp.runtime.errors import ConfigError


@pytest.fixture
def homes(tmp_path, monkeypatch):
    user = tmp_path / "home"
    oneadmin = tmp_path / "oneadmin"
    (user / ".one").mkdir(parents=True)
    (oneadmin / ".one").mkdir(parents=True)
    monkeypatch.setattr(endpoint, "ONEADMIN_HOME", str(oneadmin))
    return user, oneadmin


def test_endpoint_order(homes):
    user, oneadmin = homes
    env = {"HOME": str(user)}
    assert resolve_endpoint(env) == "http://localhost:2633/RPC2"
    (oneadmin / ".one" / "one_endpoint").write_text("http://oneadmin:2633/RPC2\n")
    assert resolve_endpoint(env) == "http://oneadmin:2633/RPC2"
    (user / ".one" / "one_endpoint").write_text("  http://user:2633/RPC2  \n\n")
    assert resolve_endpoint(env) == "http://user:2633/RPC2"
    assert resolve_endpoint(dict(env, ONE_XMLRPC="http://env:2633/RPC2")) == "http://env:2633/RPC2"
    assert resolve_endpoint({}, home=str(user)) == "http://user:2633/RPC2"


def test_session_order_and_secrecy(homes, tmp_path):
    user, oneadmin = homes
    env = {"HOME": str(user)}
    with pytest.raises(ConfigError, match="no oned credentials") as missing:
        resolve_session(env)
    assert str(user) in str(missing.value) and str(oneadmin) in str(missing.value)
    (oneadmin / ".one" / "one_auth").write_text("oneadmin:admin-pass\n")
    assert resolve_session(env) == "oneadmin:admin-pass"
    (user / ".one" / "one_auth").write_text("alice:alice-pass\n")
    assert resolve_session(env) == "alice:alice-pass"
    named = tmp_path / "auth"
    named.write_text("bob:bob-pass   \n")
    assert resolve_session(dict(env, ONE_AUTH=str(named))) == "bob:bob-pass"
    with pytest.raises(ConfigError, match="not found"):
        resolve_session(dict(env, ONE_AUTH=str(tmp_path / "absent")))
    named.write_text("token-without-user\n")
    with pytest.raises(ConfigError) as bad:
        resolve_session(dict(env, ONE_AUTH=str(named)))
    assert "token-without-user" not in str(bad.value) and str(named) in str(bad.value)


def test_timeout_and_client_from_environment(homes, tmp_path):
    user, _ = homes
    auth = tmp_path / "auth"
    auth.write_text("oneadmin:very-secret\n")
    env = {"HOME": str(user), "ONE_AUTH": str(auth), "ONE_XMLRPC": "http://u:p@127.0.0.1:9/RPC2",
           "ONE_XMLRPC_TIMEOUT": "2.5"}
    client = OneClient.from_environment(env)
    assert client.timeout == 2.5 and client.endpoint == "http://u:p@127.0.0.1:9/RPC2"
    assert "very-secret" not in repr(client) and "u:p" not in repr(client)
    assert resolve_timeout({}) == 30.0
    with pytest.raises(ConfigError, match="not an http"):
        OneClient.from_environment(dict(env, ONE_XMLRPC="localhost:2633"))
    for bad in ("soon", "-1", "0"):
        with pytest.raises(ConfigError, match="ONE_XMLRPC_TIMEOUT"):
            resolve_timeout({"ONE_XMLRPC_TIMEOUT": bad})
