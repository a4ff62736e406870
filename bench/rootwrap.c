/* The runtime podman calls in bench/run.py's podman section: exec the real
 * runtime (REAL_RUNTIME) with `--root ROOT` in front of podman's arguments.
 *
 * podman calls the runtime without --root, so both runtimes would keep their
 * state in their default roots (/run/ocirt, /run/runc), shared with anything
 * else on the machine. podman's --runtime-flag is not a way out: conmon's exit
 * command (`podman container cleanup`) does not pass it on, and `run --rm`
 * then leaves the container's state behind. Both runtimes go through this same
 * wrapper, so its cost (one execve) is the same for both.
 *
 * Built by run.py: gcc -DREAL_RUNTIME='"/abs/runtime"' -DROOT='"/abs/root"'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return 125;
    args[0] = REAL_RUNTIME;
    args[1] = "--root";
    args[2] = ROOT;
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execv(REAL_RUNTIME, args);
    fprintf(stderr, "rootwrap: exec %s: %m\n", REAL_RUNTIME);
    return 127;
}
