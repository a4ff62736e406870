"""ocirt.linux.devrules: device rules, their v1 meaning and the v2 eBPF program.

The eBPF program is checked by running it here, in a tiny interpreter of
the few opcodes devrules emits (written from the eBPF instruction set, not
from devrules), against the decision devrules.allows() takes from
effective(): for random rule lists and random device accesses they must
agree. No root, no kernel, no compiled shim.
"""
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from ocirt.errors import ConfigError
from ocirt.linux import devrules
from ocirt.linux.devrules import Rule, allows, effective, normalize, v1_writes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DENY_ALL = {"allow": False, "access": "rwm"}
ALLOW_ALL = {"allow": True}


def c(major, minor, access="rwm", allow=True):
    d = {"allow": allow, "type": "c", "access": access}
    if major is not None:
        d["major"] = major
    if minor is not None:
        d["minor"] = minor
    return d


# ------------------------------------------------------------ normalize

def test_normalize_defaults():
    assert normalize([{"allow": False}, {"allow": True, "type": "b", "major": 8, "minor": -1}]) == [
        Rule(False, "a", None, None, "rwm"), Rule(True, "b", 8, None, "rwm")]
    # access is canonical (rwm order, no duplicates); 0xFFFFFFFF is the kernel's "*"
    assert normalize([c(1, 0xFFFFFFFF, "mwrr")]) == [Rule(True, "c", 1, None, "rwm")]
    # "a" ignores major, minor and access, as the kernel does
    assert normalize([{"allow": True, "type": "a", "major": 1, "access": "r"}]) == [
        Rule(True, "a", None, None, "rwm")]
    assert normalize(None) == []


@pytest.mark.parametrize("rule,field", [
    ({"allow": True, "type": "x"}, "type"),
    ({"allow": True, "type": "u"}, "type"),
    ({"allow": True, "access": "rwx"}, "access"),
    ({"allow": True, "access": ""}, "access"),
    ({"allow": True, "access": 7}, "access"),
    ({"allow": "yes"}, "allow"),
    ({}, "allow"),
    ({"allow": True, "type": "c", "major": -2}, "major"),
    ({"allow": True, "type": "c", "minor": 1 << 32}, "minor"),
    ({"allow": True, "type": "c", "major": "1"}, "major"),
    ({"allow": True, "type": "c", "major": True}, "major"),
    ({"allow": True, "type": "c", "major": 1.0}, "major"),
    ({"allow": True, "type": None}, "type"),
])
def test_normalize_rejects(rule, field):
    with pytest.raises(ConfigError) as e:
        normalize([DENY_ALL, rule])
    assert e.value.path == f"$.linux.resources.devices[1].{field}"
    assert str(e.value).startswith(e.value.path + ": ")


def test_normalize_custom_path():
    with pytest.raises(ConfigError) as e:
        normalize([{"allow": True, "access": "x"}], path="$.devices")
    assert e.value.path == "$.devices[0].access"


def test_no_shim_import():
    code = ("import sys, ocirt.linux.devrules; "
            "bad = [m for m in sys.modules if m in ('ocirt._shim', 'ocirt.linux.shim', 'cffi')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# ------------------------------------------------------------ effective / allows

def test_empty_list_denies_everything():
    assert effective([]) == (False, [])
    assert not allows(effective([]), "c", 1, 3, "r")


def test_reset_rules():
    assert effective([c(1, 3), ALLOW_ALL]) == (True, [])
    assert effective([ALLOW_ALL, c(1, 3, allow=False), DENY_ALL]) == (False, [])
    assert effective([{"allow": True, "type": "a", "major": 1, "access": "r"}]) == (True, [])


def test_add_merges_same_key_and_remove_clears_bits():
    assert effective([DENY_ALL, c(1, 3, "r"), c(1, 5), c(1, 3, "w")]) == (
        False, [Rule(True, "c", 1, 3, "rw"), Rule(True, "c", 1, 5, "rwm")])
    assert effective([DENY_ALL, c(1, 3), c(1, 3, "w", allow=False)]) == (
        False, [Rule(True, "c", 1, 3, "rm")])
    assert effective([DENY_ALL, c(1, 3, "r"), c(1, 3, "rwm", allow=False)]) == (False, [])
    # in default-allow mode the exceptions are denies
    assert effective([ALLOW_ALL, c(1, 3, "w", allow=False), c(1, 3, "w")]) == (True, [])
    assert effective([ALLOW_ALL, c(1, 3, "w", allow=False)]) == (
        True, [Rule(False, "c", 1, 3, "w")])


def test_removal_does_not_punch_holes_in_wildcards():
    rules = [DENY_ALL, c(1, None), c(1, 3, allow=False)]
    state = effective(rules)
    assert state == (False, [Rule(True, "c", 1, None, "rwm")])
    assert allows(state, "c", 1, 3, "rw")  # what the kernel does
    with pytest.raises(ConfigError) as e:  # what runc does
        effective(rules, strict=True)
    assert e.value.path == "$.linux.resources.devices[2]"
    assert "c 1:* rwm" in e.value.msg
    # removing bits the wildcard does not hold is fine even when strict
    assert effective([DENY_ALL, c(1, None, "r"), c(1, 3), c(1, 3, "w", allow=False)],
                     strict=True) == (False, [Rule(True, "c", 1, None, "r"),
                                              Rule(True, "c", 1, 3, "rm")])


def test_allow_list_needs_one_exception_with_every_bit():
    state = effective([DENY_ALL, c(1, None, "r"), c(None, 3, "w")])
    assert allows(state, "c", 1, 3, "r")
    assert allows(state, "c", 1, 3, "w")
    assert not allows(state, "c", 1, 3, "rw")  # open(O_RDWR): no single exception has both
    assert not allows(state, "c", 1, 3, "m")
    assert not allows(state, "b", 1, 3, "r")
    assert allows(state, "c", 1, 3, "")  # access(2) with X_OK asks for nothing


def test_deny_list_denies_on_any_shared_bit():
    state = effective([ALLOW_ALL, c(1, 5, "w", allow=False)])
    assert allows(state, "c", 1, 5, "r")
    assert not allows(state, "c", 1, 5, "w")
    assert not allows(state, "c", 1, 5, "rw")  # runc's program would allow this one
    assert allows(state, "c", 1, 5, "")
    assert allows(state, "c", 1, 6, "rw")
    assert allows(state, "b", 1, 5, "rw")


def test_container_engine_default():
    """What docker/podman/containerd send (deny all, then allows), plus what runc appends."""
    rules = [DENY_ALL] + [c(*mm) for mm in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0),
                                             (5, 1), (5, 2), (136, None), (10, 200))]
    rules += [c(None, None, "m"), {"allow": True, "type": "b", "access": "m"}]
    state = effective(rules)
    assert state[0] is False and len(state[1]) == 12
    for major, minor in ((1, 3), (1, 5), (1, 9), (5, 1), (136, 0), (136, 4095), (10, 200)):
        assert allows(state, "c", major, minor, "rw")
    for major, minor in ((1, 1), (1, 4), (4, 0), (10, 229), (137, 0)):
        assert not allows(state, "c", major, minor, "r")
        assert allows(state, "c", major, minor, "m")
    assert not allows(state, "b", 8, 0, "r")
    assert allows(state, "b", 8, 0, "m")
    assert allows(effective(rules + list(devrules.RUNC_DEFAULT_ALLOW)), "c", 5, 2, "rw")


def test_runc_defaults_after_privileged():
    state = effective([ALLOW_ALL] + list(devrules.RUNC_DEFAULT_ALLOW))
    assert state == (True, [])


# ------------------------------------------------------------ v1 writes

def test_v1_writes_fresh_cgroup():
    assert v1_writes([]) == [("devices.deny", "a *:* rwm")]
    assert v1_writes([DENY_ALL, c(1, 3), c(136, None, "rw"), c(None, None, "m")]) == [
        ("devices.deny", "a *:* rwm"),
        ("devices.allow", "c 1:3 rwm"),
        ("devices.allow", "c 136:* rw"),
        ("devices.allow", "c *:* m"),
    ]
    # a list without a leading "a" rule is still an allow-list: the v1 cgroup
    # (which inherits its parent's allow-all) is reset first
    assert v1_writes([c(1, 3)])[0] == ("devices.deny", "a *:* rwm")
    assert v1_writes([ALLOW_ALL, c(1, 5, "w", allow=False)]) == [
        ("devices.allow", "a *:* rwm"), ("devices.deny", "c 1:5 w")]


def test_v1_writes_update_is_minimal():
    current = "c 1:3 rwm\nc 1:5 rwm\nc 136:* rwm\n"
    new = [DENY_ALL, c(1, 3), c(1, 5, "r"), c(1, 7), c(136, None)]
    assert v1_writes(new, current=current) == [
        ("devices.deny", "c 1:5 wm"), ("devices.allow", "c 1:7 rwm")]
    assert v1_writes(new, current="c 1:3 rwm\nc 1:5 r\nc 1:7 rwm\nc 136:* rwm\n") == []
    assert devrules.parse_list(current) == (False, {("c", 1, 3): 7, ("c", 1, 5): 7,
                                                    ("c", 136, None): 7})
    # from or to default-allow (whose deny exceptions devices.list does not show): rewrite
    assert v1_writes(new, current="a *:* rwm\n")[0] == ("devices.deny", "a *:* rwm")
    assert v1_writes([ALLOW_ALL], current=current) == [("devices.allow", "a *:* rwm")]


# ------------------------------------------------------------ the eBPF program

CTX_BASE = 0x10000  # where r1 points; the context is 12 bytes there


def run_bpf(prog, dev_type, major, minor, access_bits):
    """Run a CGROUP_DEVICE program on struct bpf_cgroup_dev_ctx; return r0.

    Supports exactly: ldxw, alu32 and/rsh/mov with an immediate, jmp32
    jne/jset with an immediate, ja, exit."""
    assert len(prog) % 8 == 0
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    ctx = struct.pack("<III", (access_bits << 16) | dev_type, major, minor)
    regs = [None] * 11
    regs[1] = CTX_BASE
    pc = steps = 0
    m32 = 0xFFFFFFFF
    while True:
        steps += 1
        assert steps <= len(insns), "a loop"
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == 0x61:  # ldx w: dst = *(u32 *)(src + off), zero-extended
            addr = regs[src] + off - CTX_BASE
            assert src == 1 and 0 <= addr <= 8 and addr % 4 == 0
            regs[dst] = struct.unpack_from("<I", ctx, addr)[0]
        elif code == 0xb4:  # mov32 imm
            regs[dst] = imm & m32
        elif code == 0x54:  # and32 imm
            regs[dst] = regs[dst] & m32 & imm & m32
        elif code == 0x74:  # rsh32 imm
            regs[dst] = (regs[dst] & m32) >> imm
        elif code in (0x56, 0x46):  # jmp32 jne / jset, immediate
            a, b = regs[dst] & m32, imm & m32
            if (a != b) if code == 0x56 else (a & b):
                pc += off
        elif code == 0x05:  # ja
            pc += off
        elif code == 0x95:  # exit
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        assert 0 <= pc < len(insns), "jump out of the program"


def reachable_everywhere(prog):
    """The kernel's verifier refuses a program with an unreachable instruction."""
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    seen, todo = set(), [0]
    while todo:
        pc = todo.pop()
        if pc in seen:
            continue
        seen.add(pc)
        code, _, off, _ = insns[pc]
        if code == 0x95:
            continue
        if code == 0x05:
            todo.append(pc + 1 + off)
        else:
            todo.append(pc + 1)
            if code in (0x56, 0x46):
                todo.append(pc + 1 + off)
    return seen == set(range(len(insns)))


TYPES = {"c": devrules.DEV_CHAR, "b": devrules.DEV_BLOCK}
NUMBERS = st.one_of(st.sampled_from([0, 1, 3, 5]), st.sampled_from([0x7FFFFFFF, 0x80000000,
                                                                      0xFFFFFFFE]))
ACCESS = st.text(alphabet="rwm", min_size=1, max_size=3)
RULE = st.one_of(
    st.builds(lambda allow, access: {"allow": allow, "access": access}, st.booleans(), ACCESS),
    st.fixed_dictionaries(
        {"allow": st.booleans(), "type": st.sampled_from(["b", "c"]), "access": ACCESS},
        optional={"major": st.one_of(st.just(-1), NUMBERS),
                  "minor": st.one_of(st.just(-1), NUMBERS)}),
)
QUERY = st.tuples(st.sampled_from(["b", "c"]), NUMBERS, NUMBERS, st.integers(0, 7))


@settings(max_examples=400, deadline=None)
@given(rules=st.lists(RULE, max_size=8), queries=st.lists(QUERY, min_size=1, max_size=12))
def test_program_decides_like_v1(rules, queries):
    prog = devrules.bpf_program(rules)
    assert reachable_everywhere(prog)
    state = effective(rules)
    for dev_type, major, minor, bits in queries:
        expect = allows(state, dev_type, major, minor, devrules.access_str(bits))
        got = run_bpf(prog, TYPES[dev_type], major, minor, bits)
        assert got == int(expect), (state, dev_type, major, minor, bits)


def _as_rules(writes):
    """v1 writes back to spec rules: what the kernel does with them, per effective()."""
    out = []
    for name, line in writes:
        dev_type, majmin, access = line.split()
        major, minor = majmin.split(":")
        rule = {"allow": name == "devices.allow", "type": dev_type, "access": access}
        if major != "*":
            rule["major"] = int(major)
        if minor != "*":
            rule["minor"] = int(minor)
        out.append(rule)
    return out


def _canon(state):
    return state[0], sorted(state[1], key=repr)


@settings(max_examples=300, deadline=None)
@given(old=st.lists(RULE, max_size=6), new=st.lists(RULE, max_size=6))
def test_v1_writes_reach_the_target(old, new):
    assert _canon(effective(_as_rules(v1_writes(new)))) == _canon(effective(new))
    # as an update: devices.list of the old state, then the writes on top of it
    default_allow, exceptions = effective(old)
    listing = "a *:* rwm\n" if default_allow else "".join(
        f"{line}\n" for _, line in v1_writes(old)[1:])
    writes = v1_writes(new, current=listing)
    assert _canon(effective(old + _as_rules(writes))) == _canon(effective(new))


def test_program_for_engine_default():
    rules = [DENY_ALL, c(1, 3), c(1, 5), c(136, None), c(None, None, "m")]
    prog = devrules.bpf_program(rules)
    assert reachable_everywhere(prog)

    def run(t, major, minor, access):
        return run_bpf(prog, TYPES[t], major, minor, devrules.access_bits(access))
    assert run("c", 1, 3, "rw") == 1
    assert run("c", 136, 9, "w") == 1
    assert run("c", 1, 4, "r") == 0
    assert run("c", 1, 4, "m") == 1
    assert run("b", 1, 3, "r") == 0
    assert run("b", 1, 3, "m") == 0


def test_program_shape():
    # header (6) + exit block (2); one exception c 1:3 rwm: type, major, minor + return (5)
    assert len(devrules.bpf_program([])) == 8 * 8
    assert len(devrules.bpf_program([DENY_ALL, c(1, 3)])) == 13 * 8
    prog = devrules.bpf_program([ALLOW_ALL])
    assert run_bpf(prog, devrules.DEV_BLOCK, 8, 0, 7) == 1
