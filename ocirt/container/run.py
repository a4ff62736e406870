"""run: create + start; in the foreground, wait and return the exit status."""

import _signal

import ocirt
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
    ocirt.TRACE and ocirt.TRACE.begin("create")
    pid = create(root, cid, bundle, pid_file=pid_file, console_socket=console_socket,
                 no_pivot=no_pivot, preserve_fds=preserve_fds,
                 no_new_keyring=no_new_keyring, systemd=systemd,
                 console=receiver.theirs if receiver else None, cfg=cfg, init=init)
    c = state.load(root, cid)
    ocirt.TRACE and ocirt.TRACE.next("start")
    if detach:
        _begin(c, keep)
        ocirt.TRACE and ocirt.TRACE.end("start")
        return 0
    master = None
    if receiver is not None:
        from ocirt import console
        master = receiver.master()
        console.adopt_size(master)  # before the process can ask for it
    previous = forward_signals(pid)
    try:
        _begin(c, keep, until_exec=True)
        ocirt.TRACE and ocirt.TRACE.end("start")
        if master is not None:
            from ocirt import console
            try:
                console.proxy(master)
            finally:
                posixos.close(master)
        ocirt.TRACE and ocirt.TRACE.begin("wait")
        status = wait_child(pid)
        ocirt.TRACE and ocirt.TRACE.end("wait")
    finally:
        restore_signals(previous)
    if not keep:
        ocirt.TRACE and ocirt.TRACE.begin("delete")
        _finish_run(c)
        ocirt.TRACE and ocirt.TRACE.end("delete")
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
    a terminal's size change) go on to the container's process. Returns the
    handlers it replaced, for restore_signals (an API caller keeps its own
    afterwards); {} outside the main thread, where Python sets none."""
    from ocirt.linux.signals import FORWARDED
    previous = {}
    for s in FORWARDED + (_signal.SIGWINCH,):
        try:
            previous[s] = _signal.signal(s, lambda signum, frame: forward(pid, signum))
        except ValueError:  # not the main thread
            break
    return previous


def restore_signals(previous):
    for s, handler in previous.items():
        _signal.signal(s, handler if handler is not None else _signal.SIG_DFL)


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
