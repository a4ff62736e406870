"""run: create + start; in the foreground, wait and return the exit status."""

import _signal

from ocirt import config as config_mod, errors, log, state
from ocirt import posixos  # os without its import cost (see there)
from ocirt.container.create import create
from ocirt.container.delete import destroy
from ocirt.container.kill import kill_and_wait
from ocirt.container.start import begin
from ocirt.state import Status


def run(root, cid, bundle, pid_file=None, detach=False, keep=False, no_pivot=False,
        preserve_fds=0, console_socket=None, no_new_keyring=False, systemd=False, init=False):
    """create + start; in the foreground, wait and return the exit status.

    A terminal container in the foreground without --console-socket gets the
    caller's terminal through a proxy (ocirt.console)."""
    state.check_id(cid)
    cfg = config_mod.load(posixos.path.abspath(bundle))
    receiver = None
    if not detach and console_socket is None and cfg.process is not None \
            and cfg.process.terminal:
        from ocirt import console
        receiver = console.Receiver()
    pid = create(root, cid, bundle, pid_file=pid_file, console_socket=console_socket,
                 no_pivot=no_pivot, preserve_fds=preserve_fds,
                 no_new_keyring=no_new_keyring, systemd=systemd,
                 console=receiver.theirs if receiver else None, cfg=cfg, init=init)
    c = state.load(root, cid)
    if detach:
        _begin(c, keep)
        return 0
    master = None
    if receiver is not None:
        from ocirt import console
        master = receiver.master()
        console.adopt_size(master)  # before the process can ask for it
    forward_signals(pid)
    _begin(c, keep, until_exec=True)
    if master is not None:
        from ocirt import console
        try:
            console.proxy(master)
        finally:
            posixos.close(master)
    status = wait_child(pid)
    if not keep:
        _finish_run(c)
    return status


def _begin(c, keep, until_exec=False):
    """start's begin; should it fail (the container is stopped then), the
    container is deleted too, unless --keep, as runc's run does."""
    try:
        begin(c, until_exec=until_exec)
    except BaseException:
        if not keep:
            try:
                _finish_run(c)
            except errors.OcirtError as e:  # the first error is the one to tell
                log.warning(str(e))
        raise


def forward_signals(pid):
    """While a foreground run or exec waits: the signals a user sends it (and
    a terminal's size change) go on to the container's process."""
    from ocirt.linux.signals import FORWARDED
    for s in FORWARDED + (_signal.SIGWINCH,):
        _signal.signal(s, lambda signum, frame: forward(pid, signum))


def forward(pid, signum):
    try:
        posixos.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_child(pid):
    while True:
        try:
            _, status = posixos.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        code = posixos.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code


def _finish_run(c):
    c.lock()
    if Status.can_kill(c.refresh()):
        kill_and_wait(c)
    destroy(c)
