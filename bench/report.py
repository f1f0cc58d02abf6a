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


def by_workload(measures: Sequence[M]) -> dict[str, M]:
    return {m["workload"]: m for m in measures}


def best_variant(variants: dict[str, list[M]]) -> str | None:
    """The variant with the highest geometric mean RPS over the request workloads."""

    def score(ms: list[M]) -> float:
        got = by_workload(ms)
        vals = [got[k]["rps"] for k in RPS_KEYS if got.get(k) and got[k].get("rps")]
        return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else 0.0

    return max(variants, key=lambda name: score(variants[name]), default=None)


def headline(direct: list[M], vg: list[M], ll: list[M] | None, vg_name: str, ll_name: str) -> str:
    d, v = by_workload(direct), by_workload(vg)
    lm = by_workload(ll) if ll else {}
    out = [
        f"videogate = **{vg_name}** (fastest variant), LiteLLM = **{ll_name}**. "
        "Added latency = gateway minus direct at the same fixed rate (1,000 RPS unless noted).",
        "",
        "| workload | direct RPS | videogate RPS | LiteLLM RPS | videogate ÷ LiteLLM "
        "| p50 added ms (vg / LiteLLM) | p99 added ms (vg / LiteLLM) "
        "| CPU ms/req (vg / LiteLLM) | peak RSS MB (vg / LiteLLM) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"| {_both(vm, lmm, 'cpu_ms_per_req', '.3f')} "
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
        f"| {_both(vc, lc, 'cpu_ms_per_req', ',.0f')} ms/download "
        f"| {_pair(rss(vc), rss(lc))} (start→peak) |"
    )
    return "\n".join(out)


def _ratio_mb(a: M | None, b: M | None) -> str:
    if not a or not b or not a.get("mb_per_s") or not b.get("mb_per_s"):
        return "-"
    return f"{a['mb_per_s'] / b['mb_per_s']:.1f}x"


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


def scale_table(rows: list[M], direct_retrieve: M | None) -> str:
    out = [
        "| backend · variant | jobs in store | RPS | p50 ms | p99 ms | p50 / p99 added ms "
        "| CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = r["measure"]
        label = f"{r['workload']} @ {size_label(r['size'])} jobs"
        out.append(
            f"| {r['backend']} · {r['variant']} | {label} | {_rps(m)} "
            f"| {_num(m.get('p50_ms'), '.2f')} | {_num(m.get('p99_ms'), '.2f')} "
            f"| {_added(m, direct_retrieve, 'p50_ms')} / {_added(m, direct_retrieve, 'p99_ms')} "
            f"| {_num(m.get('cpu_ms_per_req'), '.3f')} |"
        )
    return "\n".join(out)


def facts_block(facts: dict[str, Any]) -> str:
    return "\n".join(f"- **{k}**: {v}" for k, v in facts.items())


def render(results: dict[str, Any]) -> str:
    direct = results["direct"]
    variants: dict[str, list[M]] = results["videogate"]
    best = results.get("best_variant") or best_variant(variants) or ""
    ll = results.get("litellm")
    ll_measures = ll_name = None
    if ll and ll.get("runs"):
        run = max(ll["runs"], key=_score)
        ll_measures, ll_name = run["measures"], run["label"]
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
        "## videogate variants (server · store · worker processes)",
        "",
        variants_table(direct, variants),
        "",
        "## Scale: jobs in the store",
        "",
        scale_table(results["scale"], by_workload(direct).get("retrieve_finished")),
        "",
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


def _score(run: dict[str, Any]) -> float:
    got = by_workload(run["measures"])
    vals = [got[k]["rps"] for k in RPS_KEYS if got.get(k) and got[k].get("rps")]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else 0.0
