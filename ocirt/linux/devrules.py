"""Device access rules (``linux.resources.devices``) for cgroup v1 and v2.

The rules are an ordered list, applied the way the v1 devices controller
(security/device_cgroup.c) applies writes to devices.allow / devices.deny:

* The cgroup has a default (allow or deny) and a list of exceptions, each
  (type b|c, major or *, minor or *, access bits). Exceptions with the same
  (type, major, minor) are one entry: adding ORs the access bits in,
  removing clears bits (and drops the entry when none are left). Removing
  matches that exact key only: denying "c 1:3" does not cut a hole in an
  allowed "c 1:*" (the kernel silently keeps allowing 1:3).
* A type "a" rule, whatever its major, minor and access, resets: deny
  clears the exceptions and makes the default deny; allow clears them and
  makes the default allow.
* Any other rule whose verdict differs from the default adds an exception;
  one whose verdict equals the default removes one.
* The list starts from "deny everything" (as runc's emulator does), so a
  list without a leading "a" rule is still an allow-list.

A device access (type, major, minor, requested bits) is then decided as
the kernel decides it:

* default deny: allowed iff ONE exception matches the device (its major /
  minor equal or *) and holds ALL the requested bits;
* default allow: denied iff some matching exception shares ANY requested
  bit with it (open(O_RDWR) asks for read and write at once).

cgroup v2 has no devices controller: the same decision is made by an eBPF
program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's
cgroup (bpf_program() below builds it; ocirt.linux.bpf loads and attaches
it). Both writers start from effective(), so v1 and v2 agree.

Pure Python up to apply(), which puts the rules in place on a container's
cgroup (the v1 files, or the eBPF program through ocirt.linux.bpf): the rest
is usable from unit tests.
"""

from ocirt import posixos  # os without its import cost (see there)
from ocirt.errors import ConfigError, SetupError
from ocirt.linux.freezer import UNIFIED

DEFAULT_PATH = "$.linux.resources.devices"



class Rule(tuple):
    """(allow, type, major, minor, access): a tuple with names. (Not a
    namedtuple: `create` imports this module, and collections is not on the
    hot commands' import list.)"""

    __slots__ = ()

    def __new__(cls, allow, type, major, minor, access):  # noqa: A002 - the spec's word
        return tuple.__new__(cls, (allow, type, major, minor, access))

    allow = property(lambda self: self[0])
    type = property(lambda self: self[1])
    major = property(lambda self: self[2])
    minor = property(lambda self: self[3])
    access = property(lambda self: self[4])

    def __repr__(self):
        return "Rule(allow=%r, type=%r, major=%r, minor=%r, access=%r)" % self
Rule.__doc__ = """One normalized rule. type is "a", "b" or "c"; major and minor
are ints or None for any; access is a non-empty subset of "rwm", in that order."""

# Kernel encodings (include/uapi/linux/bpf.h, same values as DEVCG_* in v1).
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
DEV_BLOCK, DEV_CHAR = 1, 2
_TYPE_CODE = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACC_BIT = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}
ANY = 0xFFFFFFFF  # the kernel's "*" for a major or minor

# The rules runc (>= 1.2.4; 1.2.0-1.2.3 lacked tun) appends AFTER the user's
# rules, as spec dicts. runc drops a rule that has a path (1:3, 1:8, 1:7, 5:0,
# 1:5, 1:9) when linux.devices has an entry with that same path; it does not
# add allow rules for linux.devices entries themselves.
RUNC_DEFAULT_ALLOW = (
    {"allow": True, "type": "c", "access": "m"},                             # mknod of any char
    {"allow": True, "type": "b", "access": "m"},                             # mknod of any block
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},   # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},   # /dev/random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},   # /dev/full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},   # /dev/tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},   # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},   # /dev/urandom
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},             # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},   # /dev/ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
)


def access_bits(access):
    """"rw" -> ACC_READ | ACC_WRITE."""
    bits = 0
    for ch in access:
        bits |= _ACC_BIT[ch]
    return bits


def access_str(bits):
    return "".join(ch for ch in "rwm" if bits & _ACC_BIT[ch])


# ------------------------------------------------------------ normalize

def _number(v, key, where):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not -1 <= v <= ANY:
        raise ConfigError(f"{key} must be -1 (any) or 0..{ANY}", f"{where}.{key}")
    return None if v in (-1, ANY) else v


def normalize(rules, path=DEFAULT_PATH):
    """Spec rules (ocirt.config.DeviceRule records, or their JSON objects as
    in RUNC_DEFAULT_ALLOW; Rules pass through) -> list of Rule, validated.

    Absent type is "a", absent major/minor (or -1) any, absent access "rwm".
    An empty access is refused (runc refuses it, the kernel rejects the
    line). ConfigError names the offending field, e.g. <path>[3].access.
    """
    out = []
    for i, d in enumerate(rules or ()):
        if isinstance(d, Rule):
            out.append(d)
            continue
        where = f"{path}[{i}]"
        if isinstance(d, dict):
            allow, dtype, major, minor, access = (d.get("allow"), d.get("type", "a"),
                                                  d.get("major"), d.get("minor"),
                                                  d.get("access", "rwm"))
        elif hasattr(d, "access"):  # a record: None is absent
            allow, dtype, major, minor, access = (d.allow, "a" if d.type is None else d.type,
                                                  d.major, d.minor,
                                                  "rwm" if d.access is None else d.access)
        else:
            raise ConfigError("a device rule must be an object", where)
        if not isinstance(allow, bool):
            raise ConfigError("allow must be true or false", f"{where}.allow")
        if dtype not in ("a", "b", "c"):
            raise ConfigError(f"invalid device type {dtype!r} (want a, b or c)", f"{where}.type")
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            raise ConfigError(f"invalid access {access!r} (want a non-empty subset of rwm)",
                              f"{where}.access")
        major, minor = _number(major, "major", where), _number(minor, "minor", where)
        if dtype == "a":  # the kernel ignores the rest of an "a" line
            out.append(Rule(allow, "a", None, None, "rwm"))
        else:
            out.append(Rule(allow, dtype, major, minor, access_str(access_bits(access))))
    return out


# ------------------------------------------------------------ v1 semantics

def effective(rules, strict=False, path=DEFAULT_PATH):
    """The state after applying the rules in order: (default_allow, exceptions).

    exceptions is a list of Rule, in the kernel's list order, each with
    allow = not default_allow (what writing it would do).

    strict=True refuses, like runc's emulator, a rule that would remove
    access from a device that a different, wildcard exception still grants
    (the kernel ignores such a removal silently).
    """
    default_allow = False
    ex = {}  # (type, major, minor) -> access bits; insertion order = kernel list order
    for i, r in enumerate(normalize(rules, path)):
        if r.type == "a":
            default_allow, ex = r.allow, {}
            continue
        key, bits = (r.type, r.major, r.minor), access_bits(r.access)
        if r.allow != default_allow:
            ex[key] = ex.get(key, 0) | bits
            continue
        if strict:
            for wide in ((r.type, None, r.minor), (r.type, r.major, None), (r.type, None, None)):
                if wide != key and ex.get(wide, 0) & bits:
                    verb = "allow" if r.allow else "deny"
                    raise ConfigError(f"cannot {verb} part of the wildcard rule "
                                      f"{_line(*wide, ex[wide])} (the kernel would ignore it)",
                                      f"{path}[{i}]")
        if key in ex:  # in place, as dev_exception_rm() does
            ex[key] &= ~bits
            if not ex[key]:
                del ex[key]
    return default_allow, [Rule(not default_allow, t, ma, mi, access_str(b))
                           for (t, ma, mi), b in ex.items()]


def allows(state, dev_type, major, minor, access):
    """The kernel's decision for state = effective(...): may a process open /
    mknod device (dev_type "b"|"c", major, minor) with access (subset of "rwm")?"""
    default_allow, exceptions = state
    bits = access_bits(access)
    for e in exceptions:
        if (e.type != dev_type or e.major not in (None, major) or e.minor not in (None, minor)):
            continue
        ebits = access_bits(e.access)
        if default_allow and bits & ebits:
            return False  # a deny exception shares a requested bit
        if not default_allow and not bits & ~ebits:
            return True  # an allow exception holds every requested bit
    return default_allow


# ------------------------------------------------------------ cgroup v1

def _line(dev_type, major, minor, bits):
    """The devices.allow / devices.deny line, e.g. "c 136:* rw"."""
    def num(n):
        return "*" if n is None else str(n)
    return f"{dev_type} {num(major)}:{num(minor)} {access_str(bits)}"


def _write(allow, dev_type, major, minor, bits):
    return ("devices.allow" if allow else "devices.deny", _line(dev_type, major, minor, bits))


def parse_list(text):
    """devices.list -> (default_allow, {key: bits}); a v1 list shows "a *:* rwm"
    alone for a default-allow cgroup (its deny exceptions are not shown)."""
    ex = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        t, majmin, acc = line.split()
        if t == "a":
            return True, {}
        ma, mi = majmin.split(":")
        key = (t, None if ma == "*" else int(ma), None if mi == "*" else int(mi))
        ex[key] = ex.get(key, 0) | access_bits(acc)
    return False, ex


def v1_writes(rules, current=None, strict=False):
    """[(file, line)] to write, in order, into a v1 devices cgroup.

    Without current (a new cgroup, which inherits its parent's state): a reset
    ("a *:* rwm" to devices.deny or devices.allow) and then one line per
    exception. With current (the text of the cgroup's devices.list, for
    update), the smallest change, as runc computes it: when both old and new
    are allow-lists, only the dropped and the gained bits are written, so a
    running container never sees a moment of deny-all.
    """
    default_allow, exceptions = effective(rules, strict)
    target = {(e.type, e.major, e.minor): access_bits(e.access) for e in exceptions}
    if current is not None:
        cur_allow, cur = parse_list(current)
        if not cur_allow and not default_allow:
            dropped = [_write(False, *key, bits & ~target.get(key, 0))
                       for key, bits in cur.items() if bits & ~target.get(key, 0)]
            gained = [_write(True, *key, bits & ~cur.get(key, 0))
                      for key, bits in target.items() if bits & ~cur.get(key, 0)]
            return dropped + gained
    return [_write(default_allow, "a", None, None, ACC_ALL)] + [
        _write(not default_allow, *key, bits) for key, bits in target.items()]


# ------------------------------------------------------------ cgroup v2 (eBPF)

# The few eBPF opcodes used (include/uapi/linux/bpf.h, bpf_common.h).
LDX_W = 0x61     # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
AND32_K = 0x54   # BPF_ALU | BPF_AND | BPF_K: w_dst &= imm
RSH32_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K: w_dst >>= imm
MOV32_K = 0xb4   # BPF_ALU | BPF_MOV | BPF_K: w_dst = imm
JNE32_K = 0x56   # BPF_JMP32 | BPF_JNE | BPF_K: if w_dst != imm goto +off
JSET32_K = 0x46  # BPF_JMP32 | BPF_JSET | BPF_K: if w_dst & imm goto +off
JA = 0x05        # BPF_JMP | BPF_JA: goto +off
EXIT = 0x95      # BPF_JMP | BPF_EXIT: return r0


def _insn(code, dst=0, src=0, off=0, imm=0):
    """struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm;}"""
    if imm > 0x7FFFFFFF:
        imm -= 1 << 32  # the kernel reads imm as s32; JMP32 compares the low 32 bits
    return (bytes((code, (src << 4) | dst)) + off.to_bytes(2, "little", signed=True)
            + imm.to_bytes(4, "little", signed=True))


def bpf_program(rules, strict=False):
    """The BPF_PROG_TYPE_CGROUP_DEVICE program (bytes: struct bpf_insn[],
    little endian) deciding as allows(effective(rules)) does.

    Context r1 -> struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
    u32 minor;}, access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
    Return 1 allows, 0 denies. Layout:

        w2 = type, w3 = access bits, w4 = major, w5 = minor
        per exception, in order (all have the verdict opposite the default):
            if w2 != type goto next
            if w4 != major goto next          (omitted for major *)
            if w5 != minor goto next          (omitted for minor *)
          allow exception (default deny): all requested bits must be in it
            if w3 & ~access goto next         (omitted for rwm)
          deny exception (default allow): one requested bit must be in it
            if w3 & access goto +1
            goto next
            return verdict
        next: ...
        return default
    """
    default_allow, exceptions = effective(rules, strict)
    out = [
        _insn(LDX_W, dst=2, src=1, off=0),
        _insn(LDX_W, dst=3, src=1, off=0),
        _insn(AND32_K, dst=2, imm=0xFFFF),
        _insn(RSH32_K, dst=3, imm=16),
        _insn(LDX_W, dst=4, src=1, off=4),
        _insn(LDX_W, dst=5, src=1, off=8),
    ]
    for e in exceptions:
        # (code, dst, imm) with "goto next" targets, resolved once the block's length is known
        block = [(JNE32_K, 2, _TYPE_CODE[e.type])]
        if e.major is not None:
            block.append((JNE32_K, 4, e.major))
        if e.minor is not None:
            block.append((JNE32_K, 5, e.minor))
        bits = access_bits(e.access)
        if e.allow:
            if bits != ACC_ALL:
                block.append((JSET32_K, 3, ~bits & ACC_ALL))
        else:
            block.append((JSET32_K, 3, bits, 1))  # fixed +1: over the goto below
            block.append((JA, 0, 0))
        n = len(block) + 2  # + "return verdict"
        for i, (code, dst, imm, *fixed) in enumerate(block):
            off = fixed[0] if fixed else n - (i + 1)
            out.append(_insn(code, dst=dst, off=off, imm=imm))
        out.append(_insn(MOV32_K, dst=0, imm=int(e.allow)))
        out.append(_insn(EXIT))
    out.append(_insn(MOV32_K, dst=0, imm=int(default_allow)))
    out.append(_insn(EXIT))
    return b"".join(out)


# ------------------------------------------------------------ on a cgroup

def apply(cg, rules, update=False):
    """Device access on the Cgroup cg: the spec's rules (DeviceRule records),
    then runc's default allow list.

    The defaults come last, as runc appends them, so a container always
    has its standard devices and, with no rules of its own, only those.
    v1: the devices controller's files (update: only what changes, from
    devices.list); cgroup2: an eBPF program, which replaces the one ocirt
    attached before."""
    rules = normalize(rules) + normalize(RUNC_DEFAULT_ALLOW)
    d = cg.dir_of("devices")
    if d is not None:
        current = None
        if update:
            with open(posixos.path.join(d, "devices.list")) as f:
                current = f.read()
        for name, line in v1_writes(rules, current):
            try:
                with open(posixos.path.join(d, name), "w") as f:
                    f.write(line)
            except OSError as e:
                raise SetupError(f"cannot write {line!r} to {name}: {e.strerror}",
                                 DEFAULT_PATH)
        return
    unified = cg.paths.get(UNIFIED)
    if unified is None:
        raise SetupError("no devices controller and no cgroup2 tree for device rules",
                         DEFAULT_PATH)
    from ocirt.linux import bpf
    fd = posixos.open(unified, posixos.O_RDONLY | posixos.O_DIRECTORY | posixos.O_CLOEXEC)
    try:
        bpf.install(fd, bpf_program(rules))
    except OSError as e:
        raise SetupError(f"cannot install the device eBPF program: {e}", DEFAULT_PATH)
    finally:
        posixos.close(fd)
