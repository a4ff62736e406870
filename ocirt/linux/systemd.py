"""The systemd cgroup driver: the container's cgroup is a transient scope unit.

With --systemd-cgroup, linux.cgroupsPath is "slice:prefix:name" (runc's
form). ocirt asks systemd, over D-Bus, for a transient scope unit
"<prefix>-<name>.scope" in that slice holding the container's first
process, with Delegate=yes (the runtime then writes the cgroup files of that
scope itself, as runc's fs2 manager does after systemd) and the main limits
as unit properties, so that a `systemctl daemon-reload` keeps them.

D-Bus is spoken by jeepney (pure Python), imported only here. As root the
connection goes to systemd's private socket, as systemctl's does; the system
bus (dbus-daemon) is the fallback.

A user other than root asks its own systemd (`systemd --user`, user@UID.service)
on its session bus, as runc does: DBUS_SESSION_BUS_ADDRESS, else
$XDG_RUNTIME_DIR/bus. That manager's slices are below its own cgroup
(ControlGroup, e.g. /user.slice/user-1000.slice/user@1000.service), the
default slice is user.slice, and the scope, with Delegate=yes, is the user's
to write.
"""
import posix  # its environ, with bytes: os.environ would import os

from ocirt import posixos  # os without its import cost (see there)

from ocirt.errors import ConfigError, OcirtError, SetupError

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
PRIVATE_SOCKET = "/run/systemd/private"
DEFAULT_SLICE = "system.slice"
USER_DEFAULT_SLICE = "user.slice"  # runc's, for a user's systemd
DEFAULT_PREFIX = "ocirt"
UINT64_MAX = (1 << 64) - 1


def running():
    """systemd's own test: it is PID 1 when /run/systemd/system exists."""
    return posixos.path.isdir("/run/systemd/system")


def parse_path(cgroups_path, cid):
    """"slice:prefix:name" -> (slice, unit name). Empty parts take defaults."""
    default = DEFAULT_SLICE if posixos.geteuid() == 0 else USER_DEFAULT_SLICE
    if not cgroups_path:
        return default, f"{DEFAULT_PREFIX}-{cid}.scope"
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise ConfigError(f"expected \"slice:prefix:name\" for the systemd cgroup driver, "
                          f"got {cgroups_path!r}", "$.linux.cgroupsPath")
    slice_, prefix, name = parts
    slice_ = slice_ or default
    if not slice_.endswith(".slice") or "/" in slice_:
        raise ConfigError(f"{slice_!r} is not a slice unit name", "$.linux.cgroupsPath")
    if not name or "/" in name or "/" in prefix:
        raise ConfigError(f"invalid unit name in {cgroups_path!r}", "$.linux.cgroupsPath")
    if name.endswith(".slice"):
        raise ConfigError("a container cannot be a slice; give a scope name",
                          "$.linux.cgroupsPath")
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return slice_, unit


def expand_slice(slice_):
    """The cgroup path of a slice: "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" -> "/"."""
    if slice_ == "-.slice":
        return "/"
    stem = slice_[:-len(".slice")]
    if not stem or stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise ConfigError(f"invalid slice name {slice_!r}", "$.linux.cgroupsPath")
    path, acc = "", ""
    for part in stem.split("-"):
        acc = f"{acc}-{part}" if acc else part
        path += f"/{acc}.slice"
    return path


def properties(res, slice_, cid):
    """Unit properties (name, (D-Bus signature, value)) for a scope with these
    resources (an ocirt.config.Resources record, or None)."""
    from ocirt.linux import resources
    props = [("Description", ("s", f"ocirt container {cid}")),
             ("Slice", ("s", slice_)),
             ("Delegate", ("b", True)),
             ("DefaultDependencies", ("b", False))]
    if res is not None:
        res = resources.without_unset(res)  # a limit of 0 is no limit (MemoryMax=0 would OOM)
    mem = res.memory if res is not None else None
    if mem is not None and mem.limit is not None:
        props.append(("MemoryMax", ("t", _inf(mem.limit))))
    if mem is not None and mem.reservation is not None:
        props.append(("MemoryLow", ("t", _inf(mem.reservation))))
    if mem is not None and mem.swap is not None:
        swap = resources.swap_v2(mem.swap, mem.limit or 0, "$.linux.resources.memory.swap")
        if swap is not None:
            props.append(("MemorySwapMax", ("t", _inf(swap))))
    cpu = res.cpu if res is not None else None
    if cpu is not None and cpu.shares:
        props.append(("CPUWeight", ("t", resources.shares_to_weight(cpu.shares))))
    quota, period = (cpu.quota or 0, cpu.period or 0) if cpu is not None else (0, 0)
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if quota > 0:
        per_sec = quota * 1_000_000 // (period or 100_000)
        # systemd keeps CPUQuotaPerSecUSec in 10 ms steps: round up, as runc does
        per_sec = (per_sec + 9999) // 10000 * 10000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    limit = res.pids.limit if res is not None and res.pids is not None else None
    if limit is not None:
        props.append(("TasksMax", ("t", UINT64_MAX if limit < 0 else limit)))
    return props


def _inf(v):
    return UINT64_MAX if v == -1 else v


class Manager:
    """A D-Bus connection to systemd's manager object."""

    def __init__(self):
        try:
            from jeepney import DBusAddress
            from jeepney.io import blocking
        except ImportError:
            raise SetupError("the systemd cgroup driver needs the jeepney package")
        self._addr = DBusAddress(MANAGER_PATH, bus_name=SYSTEM_BUS_NAME, interface=MANAGER)
        self.via_bus = True  # a bus daemon between: signals only where a match rule asks
        if posixos.geteuid() != 0:
            bus = user_bus()
            try:
                self.conn = blocking.open_dbus_connection(bus=bus)
            except (OSError, ValueError) as e:
                raise SetupError(f"cannot connect to the user's systemd over D-Bus at {bus}: "
                                 f"{e}")
            return
        try:
            if posixos.path.exists(PRIVATE_SOCKET) and posixos.geteuid() == 0:
                # (the destination is still named, as systemctl names it)
                self.conn = _private_connection(blocking)
                self.via_bus = False
            else:
                self.conn = blocking.open_dbus_connection(bus="SYSTEM")
        except (OSError, ValueError) as e:
            raise SetupError(f"cannot connect to systemd over D-Bus: {e}")

    def call(self, method, signature=None, *args, timeout=30):
        from jeepney import new_method_call
        from jeepney.low_level import MessageType
        try:
            msg = new_method_call(self._addr, method, signature, args)
            reply = self.conn.send_and_get_reply(msg, timeout=timeout)
        except (OSError, ValueError, TypeError) as e:
            raise SetupError(f"systemd: {method}: {e}")
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(4, "error")  # HeaderFields.error_name
            text = reply.body[0] if reply.body else ""
            raise SetupError(f"systemd: {method}: {name}: {text}")
        return reply.body

    def property(self, name):
        """A property of the manager object (org.freedesktop.DBus.Properties.Get)."""
        from jeepney import DBusAddress
        addr, self._addr = self._addr, DBusAddress(
            MANAGER_PATH, bus_name=SYSTEM_BUS_NAME, interface="org.freedesktop.DBus.Properties")
        try:
            ((_sig, value),) = self.call("Get", "ss", MANAGER, name)
        finally:
            self._addr = addr
        return value

    def start_scope(self, unit, props, pid):
        """Create the scope with pid in it; return when systemd has done so."""
        from jeepney.low_level import MessageType
        if self.via_bus:
            from jeepney import MatchRule
            from jeepney.bus_messages import message_bus
            rule = MatchRule(type="signal", sender=SYSTEMD, interface=MANAGER,
                             member="JobRemoved", path=MANAGER_PATH)
            try:
                self.conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=30)
            except (OSError, ValueError) as e:
                raise SetupError(f"D-Bus: AddMatch(JobRemoved): {e or type(e).__name__}")
        self.call("Subscribe")
        (job,) = self.call("StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "replace",
                           props + [("PIDs", ("au", [pid]))], [])
        import time
        deadline = time.monotonic() + 30
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SetupError(f"systemd did not start {unit} within 30 s")
            try:
                msg = self.conn.receive(timeout=left)
            except (OSError, ValueError) as e:  # TimeoutError is an OSError
                raise SetupError(f"systemd: waiting for {unit}: {e or type(e).__name__}")
            if (msg.header.message_type == MessageType.signal
                    and msg.header.fields.get(3) == "JobRemoved"  # HeaderFields.member
                    and msg.body[1] == job):
                result = msg.body[3]
                if result != "done":
                    raise SetupError(f"systemd could not start {unit}: {result}")
                return

    def stop(self, unit):
        try:
            self.call("StopUnit", "ss", unit, "replace")
        except SetupError as e:
            if "NoSuchUnit" not in str(e):
                raise

    def close(self):
        self.conn.close()


SYSTEM_BUS_NAME = SYSTEMD


def _private_connection(blocking):
    """systemd's private socket speaks D-Bus peer to peer: no bus, so no Hello."""
    from jeepney.io.common import MessageFilters
    sock = blocking.prep_socket(PRIVATE_SOCKET, False, timeout=5)
    conn = blocking.DBusConnection.__new__(blocking.DBusConnection)
    blocking.DBusConnectionBase.__init__(conn, sock, False)
    conn._filters = MessageFilters()
    return conn


def user_bus():
    """The D-Bus address of the caller's session bus, where its systemd is:
    DBUS_SESSION_BUS_ADDRESS, else unix:path=$XDG_RUNTIME_DIR/bus if that
    socket exists. SetupError (one line) when there is none."""
    addr = posix.environ.get(b"DBUS_SESSION_BUS_ADDRESS", b"").decode(errors="replace")
    if addr:
        return addr
    xdg = posix.environ.get(b"XDG_RUNTIME_DIR", b"").decode(errors="replace")
    if xdg and posixos.path.exists(f"{xdg}/bus"):
        return f"unix:path={xdg}/bus"
    raise SetupError("--systemd-cgroup: a user other than root needs its own systemd "
                     "(systemd --user) on its D-Bus session bus, and there is none: "
                     "DBUS_SESSION_BUS_ADDRESS is not set and "
                     + (f"there is no {xdg}/bus" if xdg else "XDG_RUNTIME_DIR is not set")
                     + " (loginctl enable-linger USER starts user@UID.service and its bus)")


def scope_dir(slice_, unit):
    """The scope's directory in the cgroup2 tree; a user's systemd keeps its
    slices below its own cgroup (its ControlGroup property, asked for)."""
    from ocirt.linux import cgroups
    mount = cgroups.hierarchies().get(cgroups.UNIFIED)
    if mount is None or not cgroups.layout_is_unified(cgroups.hierarchies()):
        raise SetupError("the systemd cgroup driver of ocirt needs a cgroup v2 host")
    base = ""
    if posixos.geteuid() != 0:
        mgr = Manager()
        try:
            base = mgr.property("ControlGroup").rstrip("/")
        finally:
            mgr.close()
        if not base.startswith("/"):
            raise SetupError(f"the user's systemd has no cgroup of its own ({base!r})")
    return mount + base + expand_slice(slice_) + "/" + unit


def stop_unit(unit, warn):
    """Stop a unit (the container's scope); a failure is only a warning."""
    try:
        mgr = Manager()
        try:
            mgr.stop(unit)
        finally:
            mgr.close()
    except OcirtError as e:
        warn(f"cannot stop {unit}: {e}")
