"""`python -m ocirt`: the ocirt command, run by this interpreter from wherever
it imports ocirt. From the source tree, for debugging (README.md, "Running
from the source tree"): a change is seen at once, without reinstalling, and
the interpreter tears down normally (no _exit), so tools that run at exit
(coverage, tracemalloc, -X importtime) see the whole command."""
from ocirt.cli import main

main()
