"""Section scale: many containers at once, and list/state against the size of the root.

N containers created and started by N threads released together, then deleted
the same way; and `list` and `state` timed while each root holds 10, 100, 1000
stopped containers (--scale-n).
"""
import os
import sys
import time

from ..proc import CommandFailed, parallel
from ..table import fmt, med, pairs_table, ratio_of, section_heading

TITLE = "Scale"


def run(bench):
    bench.cur.update(concurrent=bench.args.concurrent, rounds=bench.args.scale_rounds,
                     scale_n=bench.args.scale_n, workers=bench.args.scale_workers)
    scale_concurrent(bench)
    scale_listing(bench)


def concurrent_round(bench, rt, bundle, n):
    """n containers: all created+started at once, then all deleted at once."""
    ids = [bench.new_id(rt, "conc") for _ in range(n)]

    def up(cid):
        bench.call(rt, "create", "--bundle", bundle, cid)
        bench.call(rt, "start", cid)
        return time.perf_counter()

    def down(cid):
        bench.call(rt, "delete", "--force", cid)
        return time.perf_counter()

    try:
        ends, t0 = parallel(up, ids, n)
        t_up = max(ends) - t0
        status = bench.listed(rt)
        wrong = {c: status.get(c) for c in ids if status.get(c) != "running"}
        if wrong:
            raise CommandFailed(rt.label, rt.argv("list", "--format", "json"),
                                f"{len(wrong)} of {n} containers not running after their "
                                f"start returned: {sorted(wrong.items())[:5]}")
        ends, t0 = parallel(down, ids, n)
        t_down = max(ends) - t0
        left = [c for c in ids if os.path.exists(os.path.join(rt.root, c))]
        if left:
            raise CommandFailed(rt.label, rt.argv("delete", "--force", left[0]),
                                f"delete --force left {len(left)} state directories")
    except CommandFailed:
        delete_many(bench, rt, ids)
        raise
    rt.ids.difference_update(ids)
    return t_up, t_down


def scale_concurrent(bench):
    n = bench.args.concurrent
    names = [f"{n} × create+start concurrently (until every start returned)",
             f"{n} × delete --force concurrently (running containers)"]
    samples = {nm: bench.empty() for nm in names}
    bundle = bench.b_sleep()
    failed = None
    print(f"# {n} concurrent containers: {bench.args.scale_rounds} rounds per runtime",
          file=sys.stderr, flush=True)
    try:
        for first, second in bench.pairs(bench.args.scale_rounds):
            for rt in (first, second):
                failed = rt.label
                t_up, t_down = concurrent_round(bench, rt, bundle, n)
                samples[names[0]][rt.label].append(t_up)
                samples[names[1]][rt.label].append(t_down)
        failed = None
    except CommandFailed as e:
        bench.fail(e)
        bench.cleanup_containers()
    for nm in names:
        bench.add_row(nm, "s", samples[nm], failed)


def populate(bench, rt, bundle, ids):
    """`run -d` /bin/true for every id, a few at a time; they exit at once."""
    def one(cid):
        bench.call(rt, "run", "--detach", "--bundle", bundle, cid)
    parallel(one, ids, bench.args.scale_workers)


def wait_all_stopped(bench, rt, ids):
    deadline = time.monotonic() + 60
    while True:
        status = bench.listed(rt)
        wrong = {c: status.get(c) for c in ids if status.get(c) != "stopped"}
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise CommandFailed(rt.label, rt.argv("list", "--format", "json"),
                                f"{len(wrong)} of {len(ids)} /bin/true containers not "
                                f"listed as stopped after 60 s: {sorted(wrong.items())[:5]}")
        time.sleep(0.2)


def delete_many(bench, rt, ids):
    """delete --force every id, a few at a time (setup and cleanup, untimed)."""
    def one(cid):
        bench.force_delete(rt, cid)
    try:
        parallel(one, ids, bench.args.scale_workers)
    finally:
        for cid in ids:
            if not os.path.exists(os.path.join(rt.root, cid)):
                rt.ids.discard(cid)


def scale_listing(bench):
    bundle = bench.b_true()
    made = {lb: [] for lb in bench.labels()}
    entries = bench.cur["listing"] = []
    failed = None
    try:
        for n in sorted(bench.args.scale_n):
            for rt in (bench.a, bench.b):
                failed = rt.label
                new = [bench.new_id(rt, "n") for _ in range(n - len(made[rt.label]))]
                made[rt.label].extend(new)
                t0 = time.perf_counter()
                print(f"# {rt.label}: {len(new)} more stopped containers (run -d /bin/true) "
                      f"for N={n}", file=sys.stderr, flush=True)
                populate(bench, rt, bundle, new)
                wait_all_stopped(bench, rt, made[rt.label])
                print(f"#   took {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                      flush=True)
            entry = {"n": n, "list": bench.empty(), "state": bench.empty()}
            entries.append(entry)
            probe = {lb: ids[0] for lb, ids in made.items()}
            print(f"# list, state with N={n}: {bench.args.warmup} warm-up + "
                  f"{bench.args.runs} pairs", file=sys.stderr, flush=True)
            for i in range(bench.args.warmup + bench.args.runs):
                for rt in ((bench.a, bench.b) if i % 2 == 0 else (bench.b, bench.a)):
                    failed = rt.label
                    r = bench.call(rt, "list")
                    listed = sum(1 for ln in r.stdout.splitlines()
                                 if ln.startswith(f"bench-{rt.label}-{bench.token}-n-"))
                    if listed != n:
                        raise CommandFailed(rt.label, r.argv, f"list showed {listed} of "
                                            f"{n} containers", r.rc, r.stdout[-2000:],
                                            r.stderr)
                    rs = bench.call(rt, "state", probe[rt.label])
                    bench.expect_status(rt, probe[rt.label], bench.state(rt, None, rs),
                                        "stopped", rs)
                    if i >= bench.args.warmup:
                        entry["list"][rt.label].append(r.wall)
                        entry["state"][rt.label].append(rs.wall)
        failed = None
    except CommandFailed as e:
        bench.fail(e)
    finally:
        bench.cur["listing_failed"] = failed
        for rt in (bench.a, bench.b):
            if made[rt.label]:
                print(f"# {rt.label}: deleting {len(made[rt.label])} containers",
                      file=sys.stderr, flush=True)
                delete_many(bench, rt, made[rt.label])


def render(sec, la, lb, out, chart):
    section_heading(TITLE, "scale", sec, out, what="pairs per N")
    n = sec.get("concurrent", 50)
    out.append(f"### {n} containers at once")
    out.append("")
    out.append(f"*{sec.get('rounds')} round(s) per runtime, alternating which runtime goes "
               "first.*")
    out.append("")
    pairs_table(sec["rows"], la, lb, "s", out, chart, "scale")
    out.append("")
    out.append(f"A round starts {n} threads, each running `create` then `start` of its own "
               f"`sleep 1000` container, and releases them together: the time is until the "
               f"last `start` returned. An untimed `list --format json` then checks that all "
               f"{n} are running. The second row is {n} `delete --force` calls at once, until "
               "the last one returned.")
    out.append("")
    out.append("### `list` and `state` against the number of containers in the root")
    out.append("")
    entries = [e for e in sec.get("listing", []) if e["list"].get(la) or e["list"].get(lb)]
    failed = sec.get("listing_failed")
    if failed:
        out.append(f"**FAILED ({failed})**; see Failures. Sizes measured before that:")
        out.append("")
    if not entries:
        out.append("No data.")
        return
    ms = 1000.0
    out.append(f"| N | {la} list ms | {lb} list ms | list ratio | {la} state ms | "
               f"{lb} state ms | state ratio |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for e in entries:
        cells = [f"{e['n']:,}"]
        for kind in ("list", "state"):
            a, b = e[kind].get(la, []), e[kind].get(lb, [])
            cells += [fmt(med(a), ms) if a else "—", fmt(med(b), ms) if b else "—"]
            r = ratio_of(a, b)
            cells.append(f"{r:.2f}" if r else "—")
            chart.append(("scale", f"{kind} with N={e['n']:,}", r))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if len(entries) >= 2:
        lo, hi = entries[0], entries[-1]
        out.append(f"Growth from N={lo['n']:,} to N={hi['n']:,} (median at N={hi['n']:,} / "
                   f"median at N={lo['n']:,}; per extra container):")
        out.append("")
        out.append("| runtime | list growth | list per extra container | state growth |")
        out.append("|---|---:|---:|---:|")
        for lab in (la, lb):
            la_lo, la_hi = med(lo["list"].get(lab, [])), med(hi["list"].get(lab, []))
            st_lo, st_hi = med(lo["state"].get(lab, [])), med(hi["state"].get(lab, []))
            if None in (la_lo, la_hi, st_lo, st_hi):
                continue
            per = (la_hi - la_lo) / (hi["n"] - lo["n"]) * 1e6
            out.append(f"| {lab} | ×{la_hi / la_lo:.1f} | {per:.0f} µs | "
                       f"×{st_hi / st_lo:.2f} |")
        out.append("")
    out.append("The containers are `run --detach` of `/bin/true` (stopped once it exits), "
               f"created {sec.get('workers')} at a time per runtime, untimed, and added to "
               "as N grows; an untimed `list --format json` checks that all are stopped. "
               "`list` is the default table format (the benchmark checks that it shows N "
               "containers); `state` is of the first container created, the same one at "
               "every N. Both roots hold N containers at the same time; they are deleted "
               "afterwards.")
