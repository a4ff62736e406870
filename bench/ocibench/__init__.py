"""ocibench: the side-by-side benchmark behind bench/run.py (see bench/README.md).

    cli.py        the command line: flags, one run, the files it writes
    runner.py     the two runtimes, their calls and the interleaved pairs; cleanup
    proc.py       running a command (time, status, output, rusage) and reading /proc
    sections/     one module per section (ops, exec, memory, scale, podman, floor):
                  how it measures and how it reads in the report
    table.py      the Markdown tables the sections share
    report.py     the whole report: header, targets, sections, failures
    chart.py      the ratio chart (matplotlib, optional)

Stdlib only, apart from matplotlib for the chart.
"""
