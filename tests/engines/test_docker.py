"""docker (through containerd's runc shim) runs containers through the
runtime, registered in daemon.json's runtimes and chosen with --runtime."""
import time

from tests.engines.conftest import IMAGE, LIMITS, TRAPS, interact, limits


def run_detached(docker, *args, name="c1", ready="ready"):
    cid = docker.ok("run", "--runtime", docker.runtime_name, "--detach", "--name", name,
                    IMAGE, *args)
    if ready:
        docker.follow("logs", "--follow", name).until(ready)
    return cid


def status(docker, name, field="{{.State.Status}}"):
    return docker.ok("inspect", "--format", field, name)


def test_run_rm_output_and_exit_code(docker):
    p = docker("run", "--runtime", docker.runtime_name, "--rm", IMAGE, "sh", "-c",
               "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout) == (3, "out\n"), p.stderr
    assert p.stderr == "err\n"
    assert docker.ok("ps", "--all", "--quiet") == ""


def test_a_program_that_cannot_run(docker):
    # dockerd reads the runtime's error: 127 not found, 126 not executable
    for program, code in (("nosuch", 127), ("/bin/nosuch", 127), ("/etc/passwd", 126)):
        p = docker("run", "--runtime", docker.runtime_name, "--rm", IMAGE, program)
        assert p.returncode == code, (program, p.stderr)


def test_run_interactive_terminal(docker):
    interact(docker.terminal("run", "--runtime", docker.runtime_name, "-it", "--rm", IMAGE,
                             "sh"))


def test_run_detached_and_exec(docker):
    run_detached(docker, "sh", "-c", "echo started; echo ready; exec sleep 1000")
    assert status(docker, "c1", "{{.State.Status}} {{.HostConfig.Runtime}}") == \
        f"running {docker.runtime_name}"
    p = docker("exec", "c1", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 4")
    assert (p.returncode, p.stdout) == (4, "sleep 1000 "), p.stderr
    p = docker("exec", "--user", "1000", "--workdir", "/tmp", "--env", "FOO=bar", "c1",
               "sh", "-c", "echo $(id -u) $(pwd) $FOO $HOME")
    assert (p.returncode, p.stdout) == (0, "1000 /tmp bar /\n"), p.stderr
    assert docker.ok("logs", "c1") == "started\nready"


def test_user_1000_reopens_its_stdio(docker):
    p = docker("run", "--runtime", docker.runtime_name, "--rm", "-i", "--user", "1000", IMAGE,
               "sh", "-c", "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr",
               input="in\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "in\nout\n", "err\n")
    run_detached(docker, "sleep", "1000", ready=None)
    p = docker("exec", "-i", "--user", "1000", "c1", "sh", "-c",
               "cat /dev/stdin; echo out > /dev/stdout", input="in\n")
    assert (p.returncode, p.stdout) == (0, "in\nout\n"), p.stderr


def test_exec_interactive_terminal(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    interact(docker.terminal("exec", "-it", "c1", "sh"))


def test_top(docker):
    run_detached(docker, "sh", "-c", "sleep 1001 & echo ready; exec sleep 1000")
    lines = docker.ok("top", "c1").splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"], lines
    commands = sorted(line.split(None, 7)[7] for line in lines[1:])
    assert commands == ["sleep 1000", "sleep 1001"], lines


def test_update(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    docker.ok("update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5",
              "--pids-limit", "50", "c1")
    seen = limits(docker.ok("exec", "c1", "sh", "-c", LIMITS))
    assert seen == {"memory": "67108864", "cpu": "50000 100000", "pids": "50"}


def test_pause_and_unpause(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    docker.ok("pause", "c1")
    assert status(docker, "c1", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    p = docker("exec", "c1", "true")
    assert p.returncode != 0 and "paused" in p.stderr
    docker.ok("unpause", "c1")
    assert status(docker, "c1") == "running"
    assert docker.ok("exec", "c1", "echo", "thawed") == "thawed"


def test_stop_sends_term(docker):
    run_detached(docker, "sh", "-c", TRAPS.format(sig="TERM", code=7))
    t0 = time.monotonic()
    docker.ok("stop", "--time", "60", "c1")
    assert time.monotonic() - t0 < 30  # not the timeout's KILL
    assert status(docker, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
    assert "got TERM" in docker.ok("logs", "c1")


def test_stop_kills_what_ignores_term(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    docker.ok("stop", "--time", "1", "c1")
    assert status(docker, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_kill_a_paused_container(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    docker.ok("pause", "c1")
    docker.ok("kill", "c1")
    assert docker.ok("wait", "c1") == "137"


def test_rm_force(docker):
    run_detached(docker, "sleep", "1000", ready=None)
    run_detached(docker, "sleep", "1000", name="c2", ready=None)
    docker.ok("pause", "c2")
    docker.ok("rm", "--force", "c1", "c2")
    assert docker.ok("ps", "--all", "--quiet") == ""
