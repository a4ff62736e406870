"""The report: a Markdown page of the sections' results, and the rows of the chart.

report(data) reads only the JSON the run writes (RESULTS.json), so that
--only can rerun some sections and keep the others, and the chart can be
redrawn later from the same data.
"""
from .sections import MODULES, SECTIONS
from .table import med, ratio_of


def find_row(results, section, name):
    for r in results.get(section, {}).get("rows", []):
        if r["name"] == name and not r["failed"]:
            return r
    return None


def targets(results, la, lb):
    """Issue 7's targets: (target, measured, met)."""
    out = []
    for section, name, label, limit in (
            ("ops", "run /bin/true", "`run` ≤ 1.0×", 1.0),
            ("ops", "create", "`create` ≤ 1.0×", 1.0),
            ("ops", "start", "`start` ≤ 2.0×", 2.0),
            ("ops", "state (running)", "`state` ≤ 2.0×", 2.0),
            ("ops", "kill KILL", "`kill` ≤ 2.0×", 2.0),
            ("ops", "delete (stopped)", "`delete` ≤ 2.0×", 2.0),
            ("memory", "mem:init", "init memory between create and start ≤ 2×", 2.0)):
        r = find_row(results, section, name)
        if r:
            ratio = ratio_of(r["data"].get(la, []), r["data"].get(lb, []))
            if ratio:
                out.append((label, f"{ratio:.2f}×", "yes" if ratio <= limit else "**no**"))
    entries = [e for e in results.get("scale", {}).get("listing", [])
               if e["list"].get(la) and e["state"].get(la)]
    big = [e for e in entries if e["n"] >= 1000]
    if big:
        m = med(big[-1]["list"][la])
        out.append((f"`list` with {big[-1]['n']:,} containers < 1 s", f"{m * 1000:.0f} ms",
                    "yes" if m < 1.0 else "**no**"))
    if len(entries) >= 2:
        lo, hi = entries[0], entries[-1]
        g = med(hi["state"][la]) / med(lo["state"][la])
        out.append((f"`state` independent of N (N={hi['n']:,} vs N={lo['n']:,}; "
                    "≤ 1.25× counts as flat)", f"×{g:.2f}", "yes" if g <= 1.25 else "**no**"))
    return out


def report(data, leftovers=()):
    ra, rb = data["runtimes"]["a"], data["runtimes"]["b"]
    la, lb = ra["label"], rb["label"]
    results = data["sections"]
    host = data["host"]
    out = [f"# ocirt benchmark: {la} vs {lb}", ""]
    out.append(f"Last run {data['updated']} · kernel {host['kernel']} · {host['cpus']} CPUs · "
               f"Python {host['python']} (the benchmark's)")
    out.append("")
    for rt in (ra, rb):
        extra = f" (resolved from pyenv shim {rt['shim']})" if rt.get("shim") else ""
        out.append(f"- {rt['label']}: `{rt['path']}`{extra} — {rt['version']}")
    out.append("")
    out.append("Absolute times are noisy (machine, load, caches); the ratios "
               f"{la}/{lb} of the medians, measured in the same run, are what counts. Ratio "
               "range = min–max of the per-pair ratios. Each section says when it was "
               "measured: `--only` reruns a section and keeps the others.")
    out.append("")
    chart = []
    body = []
    for name in SECTIONS:
        if name in results:
            body.append("")
            MODULES[name].render(results[name], la, lb, body, chart)
    tg = targets(results, la, lb)
    if tg:
        out.append(f"## Targets (issue 7; ratios {la}/{lb})")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---:|---|")
        out.extend(f"| {t} | {m} | {ok} |" for t, m, ok in tg)
        out.append("")
    out.extend(body)
    fails = [(n, f) for n in SECTIONS for f in results.get(n, {}).get("failures", [])]
    if fails:
        out.append("")
        out.append("## Failures")
        out.append("")
        out.append("```")
        for n, f in fails:
            out.append(f"[section {n}] {f}")
        out.append("```")
    if leftovers:
        out.append("")
        out.append("## Left behind (cleaned up by run.py)")
        out.append("")
        out.extend(f"- {x}" for x in leftovers)
    return "\n".join(out) + "\n", chart
