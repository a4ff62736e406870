"""The Markdown the sections share: medians, ratios and the pairs table.

A pairs table has one row per operation: each runtime's median and range, and
the ratio of the medians with the range of the per-pair ratios. Every row it
writes also goes to the chart as (section, name, ratio).
"""
import statistics


def fmt(x, scale, digits=1):
    return f"{x * scale:.{digits}f}"


def med(xs):
    return statistics.median(xs) if xs else None


def ratio_of(a, b):
    ma, mb = med(a), med(b)
    return ma / mb if ma is not None and mb else None


def row(name, data, failed, la, lb, scale):
    a, b = data.get(la, []), data.get(lb, [])
    cells = [name]
    for lab, xs in ((la, a), (lb, b)):
        if xs:
            m = fmt(statistics.median(xs), scale)
            if failed:  # partial data: say how much
                m += f" (n={len(xs)})"
            cells += [m, f"{fmt(min(xs), scale)}–{fmt(max(xs), scale)}"]
        else:
            cells += ["FAILED" if failed == lab else "—", "—"]
    n = min(len(a), len(b))
    if n and not failed:
        ratios = [x / y for x, y in zip(a, b) if y > 0]
        rmed = statistics.median(a) / statistics.median(b)
        cells += [f"{rmed:.2f}", f"{min(ratios):.2f}–{max(ratios):.2f}"]
    else:
        cells += [f"FAILED ({failed})" if failed else "—", "—"]
    return "| " + " | ".join(cells) + " |", (None if failed or not n else
                                               statistics.median(a) / statistics.median(b))


def pairs_table(rows, la, lb, unit, out, chart, section, first_col="operation", names=None):
    """One table of rows; names maps a row's key to what the report calls it."""
    if unit == "s":
        head, scale = "ms", 1000.0
    else:
        head, scale = "MiB", 1 / 1024
    out.append(f"| {first_col} | {la} median {head} | {la} min–max | {lb} median {head} | "
               f"{lb} min–max | ratio ({la}/{lb}) | ratio range |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name = (names or {}).get(r["name"], r["name"])
        line, ratio = row(name, r["data"], r["failed"], la, lb, scale)
        out.append(line)
        chart.append((section, name, ratio))


def section_heading(title, name, sec, out, what="pairs"):
    out.append(f"## {title}")
    out.append("")
    out.append(f"*Section `{name}`, measured {sec['started']}: {sec['runs']} {what} "
               f"(+{sec['warmup']} warm-up).*")
    out.append("")


def not_measured(first_col, row_name, la, lb, status, out):
    """The table of a section that could not run: its one row, saying why."""
    out.append(f"| {first_col} | {la} | {lb} | ratio |")
    out.append("|---|---:|---:|---:|")
    out.append(f"| {row_name} | {status} | {status} | — |")
    out.append("")
