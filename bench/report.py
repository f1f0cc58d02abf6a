"""The Markdown report: headline table (direct / videogate / LiteLLM), variants, scale, facts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

M = dict[str, Any]  # a Measure as a dict
ROWS = (
    ("create", "create (POST /v1/videos, JSON)"),
    ("retrieve_running", "retrieve, running job (upstream call)"),
    ("retrieve_finished", "retrieve, finished job (videogate: store)"),
    ("delete", "delete (distinct existing jobs)"),
)
CONTENT_ROW = "content: 200 MB video"
# The workloads LiteLLM runs too (it has no DELETE /v1/videos/{id}): compared one to one.
SHARED = ("create", "retrieve_running", "retrieve_finished", "content")
RPS_KEYS = tuple(k for k, _ in ROWS)


def size_label(n: int) -> str:
    exp = round(math.log10(n)) if n > 0 else 0
    return f"10^{exp}" if 10**exp == n else f"{n:,}"


def scale_rows(sizes: Sequence[int]) -> list[str]:
    return [f"{what} @ {size_label(n)} jobs" for n in sizes for what in ("retrieve", "list")]


def expected_rows(sizes: Sequence[int]) -> list[str]:
    """Row labels every report has (the quick-mode test checks them)."""
    return [label for _, label in ROWS] + [CONTENT_ROW] + scale_rows(sizes)


def _num(v: float | None, fmt: str = ",.0f") -> str:
    return "-" if v is None else format(v, fmt)


def _rps(m: M | None) -> str:
    if m is None:
        return "-"
    if m.get("rps") is None:
        return "n/a"
    mark = "" if m.get("clean") else f" ⚠ {m.get('success_pct', 0):.1f}% ok"
    return f"{m['rps']:,.0f}{mark}"


def _added(m: M | None, d: M | None, key: str) -> str:
    if m is None or m.get(key) is None:
        return "-" if m is None else "n/a"
    value = m[key] - (d[key] if d and d.get(key) is not None else 0.0)
    note = ""
    if m.get("fixed_rate") and d and d.get("fixed_rate") and m["fixed_rate"] != d["fixed_rate"]:
        note = f" (@{m['fixed_rate']:,.0f}/s)"
    return f"{value:.2f}{note}"


def _pair(a: str, b: str) -> str:
    return f"{a} / {b}"


def _both(a: M | None, b: M | None, key: str, fmt: str) -> str:
    return _pair(_num((a or {}).get(key), fmt), _num((b or {}).get(key), fmt))


def _ratio(a: M | None, b: M | None) -> str:
    if not a or not b or not a.get("rps") or not b.get("rps"):
        return "-"
    return f"{a['rps'] / b['rps']:.1f}x"


def _cpu_ratio(a: M | None, b: M | None) -> str:
    """videogate's CPU ms/req over LiteLLM's (lower is better), where both ran it."""
    if not a or not b or not a.get("cpu_ms_per_req") or not b.get("cpu_ms_per_req"):
        return "-"
    return f"{a['cpu_ms_per_req'] / b['cpu_ms_per_req']:.3f}"


def by_workload(measures: Sequence[M]) -> dict[str, M]:
    return {m["workload"]: m for m in measures}


def _geomean_rps(measures: list[M]) -> float:
    """Geometric mean RPS over the request workloads (how variants and runs are ranked)."""
    got = by_workload(measures)
    vals = [got[k]["rps"] for k in RPS_KEYS if got.get(k) and got[k].get("rps")]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else 0.0


def best_variant(variants: dict[str, list[M]]) -> str | None:
    """The variant with the highest geometric mean RPS over the request workloads."""
    return max(variants, key=lambda name: _geomean_rps(variants[name]), default=None)


def headline(direct: list[M], vg: list[M], ll: list[M] | None, vg_name: str, ll_name: str) -> str:
    d, v = by_workload(direct), by_workload(vg)
    lm = by_workload(ll) if ll else {}
    out = [
        f"videogate = **{vg_name}** (fastest variant), LiteLLM = **{ll_name}**. "
        "Added latency = gateway minus direct at the same fixed rate (1,000 RPS unless noted).",
        "",
        "| workload | direct RPS | videogate RPS | LiteLLM RPS | videogate ÷ LiteLLM "
        "| p50 added ms (vg / LiteLLM) | p99 added ms (vg / LiteLLM) "
        "| CPU ms/req (vg / LiteLLM) | CPU ms/req videogate ÷ LiteLLM "
        "| peak RSS MB (vg / LiteLLM) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in ROWS:
        dm, vm, lmm = d.get(key), v.get(key), lm.get(key)
        ll_rps = _rps(lmm) if ll is not None else "not run"
        if lmm is not None and lmm.get("rps") is None and lmm.get("note"):
            ll_rps = f"n/a ({lmm['note']})"
        out.append(
            f"| {label} | {_rps(dm)} | {_rps(vm)} | {ll_rps} | {_ratio(vm, lmm)} "
            f"| {_pair(_added(vm, dm, 'p50_ms'), _added(lmm, dm, 'p50_ms'))} "
            f"| {_pair(_added(vm, dm, 'p99_ms'), _added(lmm, dm, 'p99_ms'))} "
            f"| {_both(vm, lmm, 'cpu_ms_per_req', '.3f')} | {_cpu_ratio(vm, lmm)} "
            f"| {_both(vm, lmm, 'peak_rss_mb', ',.0f')} |"
        )
    dc, vc, lc = d.get("content"), v.get("content"), lm.get("content")

    def mbs(m: M | None) -> str:
        if m is None or m.get("mb_per_s") is None:
            return "-" if m is None else f"n/a ({m.get('note', '')})"
        share = ""
        if dc and dc.get("mb_per_s") and m is not dc:
            share = f" ({100 * m['mb_per_s'] / dc['mb_per_s']:.0f}% of direct)"
        return f"{m['mb_per_s']:,.0f} MB/s{share}"

    def rss(m: M | None) -> str:
        if m is None or m.get("peak_rss_mb") is None:
            return "-"
        return f"{m['start_rss_mb']:,.0f}→{m['peak_rss_mb']:,.0f}"

    out.append(
        f"| {CONTENT_ROW} | {mbs(dc)} | {mbs(vc)} | {mbs(lc) if ll is not None else 'not run'} "
        f"| {_ratio_mb(vc, lc)} | - | - "
        f"| {_both(vc, lc, 'cpu_ms_per_req', ',.0f')} ms/download | {_cpu_ratio(vc, lc)} "
        f"| {_pair(rss(vc), rss(lc))} (start→peak) |"
    )
    return "\n".join(out)


def _ratio_mb(a: M | None, b: M | None) -> str:
    if not a or not b or not a.get("mb_per_s") or not b.get("mb_per_s"):
        return "-"
    return f"{a['mb_per_s'] / b['mb_per_s']:.1f}x"


def _added_ms(m: M | None, d: M | None, key: str, rate: float) -> float | None:
    """Added latency in ms, only if measured at `rate` (else it says nothing of the target)."""
    if not m or m.get(key) is None or m.get("fixed_rate") != rate:
        return None
    return float(m[key] - ((d or {}).get(key) or 0.0))


def _checks(
    direct: list[M], vg: list[M], ll: list[M] | None, rate: float, same: dict[str, M]
) -> list[Any]:
    """(target, value text, met) for each of issue 7's targets, from one variant's measures;
    `same` holds its latencies at LiteLLM's (lower) rates, where they were taken."""
    d, v, lm = by_workload(direct), by_workload(vg), by_workload(ll or [])
    rows: list[Any] = []

    def rps(key: str) -> float | None:
        return (v.get(key) or {}).get("rps") if (v.get(key) or {}).get("clean") else None

    for key, floor in (("retrieve_finished", 5000), ("create", 2000), ("delete", 2000)):
        got = rps(key)
        rows.append((f"{key} ≥ {floor:,} RPS", _num(got), got is not None and got >= floor))
    for key, _ in ROWS:
        p50 = _added_ms(v.get(key), d.get(key), "p50_ms", rate)
        p99 = _added_ms(v.get(key), d.get(key), "p99_ms", rate)
        ok = p50 is not None and p99 is not None and p50 <= 1 and p99 <= 5
        text = "not at that rate" if p50 is None else f"{p50:.2f} / {p99:.2f}"
        rows.append((f"{key}: added p50 ≤ 1 / p99 ≤ 5 ms @ {rate:,.0f}/s", text, ok))
    for key in SHARED:
        unit = "mb_per_s" if key == "content" else "rps"
        a, b = (v.get(key) or {}).get(unit), (lm.get(key) or {}).get(unit)
        ratio = a / b if a and b else None
        text = "-" if ratio is None else f"{ratio:.1f}x"
        rows.append((f"{key}: ≥ 10x LiteLLM's throughput", text, ratio is not None and ratio >= 10))
    for key in ("create", "retrieve_running", "retrieve_finished"):
        for q in ("p50_ms", "p99_ms"):
            lmm = lm.get(key)
            at_rate = (lmm or {}).get("fixed_rate")
            # compared only under the same load: ours at LiteLLM's rate (`same`), if taken
            ours = _added_ms(same.get(key) or v.get(key), d.get(key), q, at_rate or -1)
            theirs = _added_ms(lmm, d.get(key), q, at_rate or -1)
            ok = ours is not None and theirs is not None and theirs > 0 and ours <= theirs / 10
            text = "-" if ours is None or theirs is None else f"{ours:.2f} vs {theirs:.2f}"
            at = f" (both @{at_rate:,.0f}/s)" if at_rate else ""
            rows.append((f"{key}: {q[:3]} added ≤ 1/10 of LiteLLM's{at}", text, ok))
    for key in SHARED:
        a, b = (v.get(key) or {}).get("cpu_ms_per_req"), (lm.get(key) or {}).get("cpu_ms_per_req")
        ratio = a / b if a and b else None
        fmt = ",.0f" if key == "content" else ".3f"  # content: CPU ms per 200 MB download
        text = "-" if ratio is None else f"{a:{fmt}} vs {b:{fmt}} ({ratio:.3f})"
        rows.append(
            (f"{key}: CPU ms/req ≤ 1/10 of LiteLLM's", text, ratio is not None and ratio <= 0.1)
        )
    dc, vc = d.get("content"), v.get("content")
    share = (
        vc["mb_per_s"] / dc["mb_per_s"]
        if vc and dc and vc.get("mb_per_s") and dc.get("mb_per_s")
        else None
    )
    rows.append(
        (
            "content ≥ 80% of direct MB/s",
            "-" if share is None else f"{share:.0%}",
            share is not None and share >= 0.8,
        )
    )
    return rows


def targets_table(
    direct: list[M],
    variants: dict[str, list[M]],
    best: str,
    ll: list[M] | None,
    rate: float,
    same: dict[str, dict[str, M]],
) -> str:
    """Each target: the headline variant's value, and which variants met it."""
    others = {
        name: _checks(direct, ms, ll, rate, same.get(name, {})) for name, ms in variants.items()
    }
    mine = others[best] if best in others else _checks(direct, [], ll, rate, {})
    out = [
        f"| target | {best} | met | met by any variant |",
        "|---|---:|:-:|---|",
    ]
    for i, (what, text, ok) in enumerate(mine):
        anyone = [name for name, rows in others.items() if rows[i][2]]
        who = "all" if len(anyone) == len(others) else ", ".join(anyone) or "none"
        out.append(f"| {what} | {text} | {'yes' if ok else '**no**'} | {who} |")
    return "\n".join(out)


def variants_table(direct: list[M], variants: dict[str, list[M]]) -> str:
    d = by_workload(direct)
    head = "| variant | " + " | ".join(label for _, label in ROWS) + " | content MB/s |"
    out = [
        "RPS at saturation, then p50 / p99 added latency in ms at the fixed rate.",
        "",
        head,
        "|---|" + "---:|" * (len(ROWS) + 1),
    ]
    for name, ms in variants.items():
        got = by_workload(ms)
        cells = []
        for key, _ in ROWS:
            m = got.get(key)
            p50, p99 = _added(m, d.get(key), "p50_ms"), _added(m, d.get(key), "p99_ms")
            cells.append(f"{_rps(m)}<br>{p50} / {p99}")
        c = got.get("content")
        cells.append(_num((c or {}).get("mb_per_s")))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# Issue 19's targets for the scale section, per (workload, backend): RPS floor, p99 ceiling
# (ms, at the fixed rate; None: no latency target). Retrieve keeps issue 7's.
SCALE_TARGETS: dict[tuple[str, str], tuple[float, float | None]] = {
    ("list", "SQLite"): (5000, 5.0),
    ("list", "PostgreSQL"): (2000, None),
    ("retrieve", "SQLite"): (5000, 5.0),
    ("retrieve", "PostgreSQL"): (5000, 5.0),
}


def scale_target(workload: str, backend: str) -> tuple[float, float | None] | None:
    return SCALE_TARGETS.get((workload, backend))


def _scale_check(r: M) -> tuple[str, str]:
    """(target text, met text) of one scale row."""
    found = scale_target(r["workload"], r["backend"])
    if found is None:
        return "-", "-"
    floor, p99_max = found
    m = r["measure"]
    text = f"≥ {floor:,.0f} RPS" + (f", p99 ≤ {p99_max:g} ms" if p99_max is not None else "")
    rps_ok = bool(m.get("clean")) and (m.get("rps") or 0) >= floor
    p99 = m.get("p99_ms")
    p99_ok = p99_max is None or (p99 is not None and p99 <= p99_max)
    return text, "met" if rps_ok and p99_ok else "**not met**"


def scale_table(rows: list[M], directs: dict[str, M | None]) -> str:
    """One row per (variant, workload, store size): the direct limit of that workload beside
    the gateway's RPS, issue 19's target and whether it was met, and how flat the RPS stays
    (share of the same workload's RPS at the smallest store)."""
    out = [
        "| backend · variant | jobs in store | RPS | direct RPS | target | met "
        "| vs smallest store | p50 ms | p99 ms | p50 / p99 added ms | CPU ms/req |",
        "|---|---|---:|---:|---|:-:|---:|---:|---:|---:|---:|",
    ]
    first: dict[tuple[str, str], float] = {}
    for r in rows:
        m = r["measure"]
        d = directs.get(r["workload"])
        label = f"{r['workload']} @ {size_label(r['size'])} jobs"
        target, met = _scale_check(r)
        key = (r["variant"], r["workload"])
        if m.get("rps") and key not in first:
            first[key] = m["rps"]
        flat = f"{100 * m['rps'] / first[key]:.0f}%" if m.get("rps") and key in first else "-"
        out.append(
            f"| {r['backend']} · {r['variant']} | {label} | {_rps(m)} | {_rps(d)} "
            f"| {target} | {met} | {flat} "
            f"| {_num(m.get('p50_ms'), '.2f')} | {_num(m.get('p99_ms'), '.2f')} "
            f"| {_added(m, d, 'p50_ms')} / {_added(m, d, 'p99_ms')} "
            f"| {_num(m.get('cpu_ms_per_req'), '.3f')} |"
        )
    return "\n".join(out)


# Issue 19: content within 80 % of its limit; RSS "flat" = the gateway grew by less than this
# while serving 200 MB (a buffered body would grow by the file's size)
CONTENT_SHARE = 0.8
FLAT_RSS_MB = 32.0


def _content_row(r: M, limit: M | None, redirect: bool) -> str:
    mb, lim = r.get("mb_per_s"), (limit or {}).get("mb_per_s")
    share = mb / lim if mb and lim else None
    grew = r["peak_rss_mb"] - r["start_rss_mb"] if r.get("peak_rss_mb") else None
    flat = grew is not None and grew < FLAT_RSS_MB
    if limit is r:
        target, met = "(the limit)", "-"
    elif redirect:  # the bytes never pass through the gateway: only its RSS says anything
        target = "bytes bypass the gateway, flat RSS"
        met = "met" if mb and flat else "**not met**"
    else:
        target = f"≥ {CONTENT_SHARE:.0%} of limit, flat RSS"
        met = "met" if share is not None and share >= CONTENT_SHARE and flat else "**not met**"
    rss = "-" if grew is None else f"{r['start_rss_mb']:.0f} → {r['peak_rss_mb']:.0f}"
    return (
        f"| {r['target']} | {'Range ' + r['range'] if r.get('range') else 'whole file'} "
        f"| {_num(mb)} | {'-' if share is None else f'{share:.0%}'} | {rss} "
        f"| {_num(r.get('cpu_ms'))} | {target} | {met} |{' ' + r['note'] if r.get('note') else ''}"
    )


def content_table(rows: list[M]) -> str:
    """Each download beside the limit of the same kind (whole or Range) from the same run."""
    out = [
        "| served by | request | MB/s (best) | of limit | RSS MB start → peak "
        "| CPU ms/download | target | met |",
        "|---|---|---:|---:|---:|---:|---|:-:|",
    ]
    limits = {r.get("range"): r for r in rows if "limit" in r["target"]}
    for r in rows:
        redirect = "redirect" in r["target"]
        out.append(_content_row(r, limits.get(r.get("range")), redirect))
    return "\n".join(out)


def facts_block(facts: dict[str, Any]) -> str:
    return "\n".join(f"- **{k}**: {v}" for k, v in facts.items())


def litellm_run(ll: dict[str, Any] | None) -> dict[str, Any] | None:
    """The LiteLLM run the report compares with: its fastest."""
    if not ll or not ll.get("runs"):
        return None
    return max(ll["runs"], key=lambda run: _geomean_rps(run["measures"]))


def litellm_measures(ll: dict[str, Any] | None) -> list[M] | None:
    run = litellm_run(ll)
    return run["measures"] if run else None


def bytes_sections(b: M | None) -> list[str]:
    """Issue 19's content and active-jobs sections (absent from results written before)."""
    if not b:
        return []
    from .active_jobs import TARGET_P99, TARGET_POLLS, table

    s3 = (
        [content_table(b["s3"])]
        if b.get("s3")
        else ["S3-compatible store unavailable in this run: not measured."]
    )
    return [
        "## Content from the local asset store (200 MB, mirrored)",
        "",
        "Limit: `bench.fileserver`, os.sendfile on loopback, serving the very same file "
        "(hard-linked, same page cache). curl to /dev/null; RSS of the gateway's process tree.",
        "",
        content_table(b["mirrored"]),
        "",
        f"## Content from S3-compatible storage ({b.get('s3_endpoint') or 'none'})",
        "",
        "Limit: a direct presigned GET of the same object from the same store. "
        "`307 redirect`: `assets.s3_presigned_redirect: true`, curl follows it.",
        "",
        *s3,
        "",
        "## Many active jobs (worker processes polling a loopback upstream)",
        "",
        f"Target: ≥ {TARGET_POLLS:,.0f} polls/s per worker process, lag p99 ≤ "
        f"{TARGET_P99:g} s at half load and with a hanging provider beside, no job polled "
        "twice in one interval.",
        "",
        table(b["active_jobs"]),
        "",
    ]


def render(results: dict[str, Any]) -> str:
    direct = results["direct"]
    variants: dict[str, list[M]] = results["videogate"]
    best = results.get("best_variant") or best_variant(variants) or ""
    ll = results.get("litellm")
    run = litellm_run(ll)
    ll_measures, ll_name = (run["measures"], run["label"]) if run else (None, None)
    parts = [
        f"# videogate benchmark ({results['profile']['name']})",
        "",
        f"Run {results['started']} · total {results['elapsed_seconds']:.0f} s · "
        "every number below was measured in this one run.",
        "",
        "## videogate vs direct vs LiteLLM",
        "",
        headline(
            direct,
            variants.get(best, []),
            ll_measures,
            best,
            ll_name or ("not run: " + (ll or {}).get("skipped", "skipped")),
        ),
        "",
        "## Targets (issue 7)",
        "",
        "The headline variant against each target; the last column names every variant "
        "that met it in this run. Latency against LiteLLM is compared at LiteLLM's own "
        "(lower) fixed rate, where every variant was measured again.",
        "",
        targets_table(
            direct,
            variants,
            best,
            ll_measures,
            float(results["profile"]["fixed_rate"]),
            results.get("same_rate") or {},
        ),
        "",
        "## videogate variants (server · store · worker processes)",
        "",
        variants_table(direct, variants),
        "",
        "## Scale: jobs in the store",
        "",
        "The rows name each store's deployment: in a full run, granian with two worker "
        "processes (one per core), the same in every run.",
        "",
        scale_table(
            results["scale"],
            {
                "retrieve": by_workload(direct).get("retrieve_finished"),
                "list": by_workload(direct).get("list"),
            },
        ),
        "",
        *bytes_sections(results.get("bytes")),
        "## How it was measured",
        "",
        "\n".join(f"- {line}" for line in results["method"]),
        "",
        "## Machine and versions",
        "",
        facts_block(results["facts"]),
        "",
    ]
    return "\n".join(parts)
