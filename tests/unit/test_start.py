"""start's side of the exec.sock conversation (ocirt.protocol), against a fake init.

Without poststart hooks start returns at b"X" (the init is about to exec);
with them it reads on to EOF (the exec happened) and so hears of a failure
that comes after b"X". No root, no real container: the "init" is a thread
holding the listening socket, as a real init does."""
import os
import socket
import threading

import pytest

from ocirt import errors, state
from ocirt.container.start import release


@pytest.fixture
def created(tmp_path_factory):
    root = tmp_path_factory.mktemp("s")  # short: exec.sock must fit in sun_path
    c = state.new(str(root), "c1")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.join(c.dir, state.EXEC_SOCKET))
    server.listen(1)
    yield c, server
    server.close()


def fake_init(server, replies, after_close=None):
    """Accept start, check b"S", send each reply; then wait for start to hang
    up (after_close collects what it saw) or close first."""
    def serve():
        conn, _ = server.accept()
        with conn:
            assert conn.recv(1) == b"S"
            for r in replies:
                conn.sendall(r)
            if after_close is not None:
                conn.settimeout(30)  # a start that waits for EOF: fail, don't hang
                try:
                    after_close.append(conn.recv(1))  # b"": start closed its end
                except socket.timeout:
                    after_close.append("start still waiting")
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_returns_at_executing_without_waiting_for_the_exec(created):
    c, server = created
    seen = []
    t = fake_init(server, [b"X"], after_close=seen)  # the init never closes by itself
    release(c)
    t.join(30)
    assert seen == [b""]  # start hung up first: it did not wait for EOF
    assert not os.path.exists(os.path.join(c.dir, state.EXEC_SOCKET))


def test_until_exec_hears_a_failure_after_executing(created):
    c, server = created
    t = fake_init(server, [b"X", b"Ecannot exec: boom"])
    with pytest.raises(errors.SetupError, match="cannot exec: boom"):
        release(c, until_exec=True)
    t.join(30)


def test_until_exec_returns_at_eof(created):
    c, server = created
    t = fake_init(server, [b"X"])  # then closes: the exec closed the socket
    release(c, until_exec=True)
    t.join(30)


def test_failure_before_executing(created):
    c, server = created
    t = fake_init(server, [b"Estartcontainer hook failed"])
    with pytest.raises(errors.SetupError, match="startcontainer hook failed"):
        release(c)
    t.join(30)


def test_not_waiting(tmp_path_factory):
    c = state.new(str(tmp_path_factory.mktemp("s")), "c1")
    with pytest.raises(errors.InvalidState, match="not waiting to start"):
        release(c)
