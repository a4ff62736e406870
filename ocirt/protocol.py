"""The conversation between ``ocirt create`` and the processes it forks.

Creation forks twice, without re-executing the interpreter:

    parent (ocirt create)       stage-1 (ns setup)            stage-2 (container init, pid 1)
    ---------------------       ------------------            -------------------------------
    fork ---------------------> waits for GO
    puts stage-1 in the cgroup
    GO -----------------------> joins namespaces by path
                                (user namespace first)
                                unshare(CLONE_NEWUSER) if asked
                    <---------- USERNS
    writes uid_map/gid_map
    MAPPED -------------------> unshares the other namespaces
                                fork ------------------------> (is pid 1 of the new pid ns)
                    <---------- PID {pid: host pid of stage-2}
                                exits 0
                                                              builds the rootfs, pivot_root,
                                                              hostname, user, rlimits, ...
                                                              binds <state>/exec.sock
                    <------------------------------------------ READY
    writes state.json, exits                                  blocks in accept() on exec.sock

    ocirt start: connects to exec.sock, unlinks it, sends b"S"
                                                              execs process.args; the accepted
                                                              socket is close-on-exec, so start
                                                              reads EOF; on failure stage-2 sends
                                                              b"E" + message, then exits 127

Any stage may send ERROR {cls, msg} instead and exit; the parent re-raises
it as the ocirt.errors class of that name. EOF on the channel before READY
means a stage died. Messages are JSON objects, one per SOCK_SEQPACKET
datagram; the children never print by themselves.
"""
from ocirt import errors
from ocirt.state import EXEC_SOCKET  # noqa: F401 - part of the protocol

GO = "GO"
USERNS = "USERNS"
MAPPED = "MAPPED"
PID = "PID"
READY = "READY"
ERROR = "ERROR"

START = b"S"
EXEC_FAILED = b"E"


class Channel:
    """One end of the parent/child socketpair."""

    def __init__(self, sock):
        self.sock = sock

    # json and socket are imported where used: `start` imports this module for
    # its constants and must stay light.

    @classmethod
    def pair(cls):
        import socket
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def send(self, kind, **fields):
        import json
        fields["t"] = kind
        self.sock.send(json.dumps(fields).encode())

    def send_error(self, err):
        cls = type(err).__name__ if isinstance(err, errors.OcirtError) else "SetupError"
        msg = err.msg if isinstance(err, errors.OcirtError) else str(err)
        try:
            self.send(ERROR, cls=cls, msg=msg)
        except OSError:
            pass

    def recv(self):
        """The next message as a dict, or None at EOF."""
        import json
        data = self.sock.recv(65536)
        if not data:
            return None
        return json.loads(data)

    def expect(self, kind):
        """Receive a message of <kind>; raise the child's error or a death notice."""
        msg = self.recv()
        if msg is None:
            raise errors.SetupError("container setup process exited unexpectedly")
        if msg["t"] == ERROR:
            raise errors.BY_NAME.get(msg.get("cls"), errors.SetupError)(msg.get("msg", "?"))
        if msg["t"] != kind:
            raise errors.SetupError(f"protocol error: expected {kind}, got {msg['t']}")
        return msg
