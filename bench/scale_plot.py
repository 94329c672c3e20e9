#!/usr/bin/env python3
"""Draws the results of bench/scale.sh as an SVG: throughput and resident bytes per object
against the number of objects (logarithmic), ours next to Redis.

usage: scale_plot.py RESULTS.txt OUT.svg

RESULTS.txt holds the lines "scale <who> <count> <put/s> <get/s right after the load>
<p50 us> <p99 us> <rss> <get/s settled>"
that bench/scale.sh writes (other lines are ignored).
"""

import math
import sys

COLORS = {"ours1": "#1f6feb", "ours3": "#8957e5", "redis": "#d1242f"}
NAMES = {"ours1": "HyperDex, 1 daemon", "ours3": "HyperDex, 3 daemons (tolerate 1)", "redis": "Redis"}


def read(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if len(p) == 9 and p[0] == "scale":
                who, count = p[1], int(p[2])
                rows.setdefault(who, []).append(
                    {"count": count, "put": float(p[3]), "load_get": float(p[4]), "rss": float(p[7]), "get": float(p[8])}
                )
    for v in rows.values():
        v.sort(key=lambda r: r["count"])
    return rows


def panel(out, x0, y0, w, h, title, ylabel, series, counts, ymax):
    """One chart: series is a list of (label, color, dashed, [(count, y)])."""
    lo, hi = math.log10(min(counts)), math.log10(max(counts))
    if hi == lo:
        hi = lo + 1

    def px(c):
        return x0 + (math.log10(c) - lo) / (hi - lo) * w

    def py(v):
        return y0 + h - v / ymax * h

    out.append(f'<text x="{x0 + w / 2}" y="{y0 - 12}" text-anchor="middle" font-weight="bold">{title}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
    for i in range(6):
        v = ymax * i / 5
        y = py(v)
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + w}" y2="{y}" stroke="#eee"/>')
        label = f"{v / 1e6:.2f}M" if ymax >= 1e6 else f"{v:.0f}"
        out.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" font-size="11">{label}</text>')
    for c in sorted(set(counts)):
        x = px(c)
        out.append(f'<line x1="{x}" y1="{y0 + h}" x2="{x}" y2="{y0 + h + 4}" stroke="#888"/>')
        label = f"{c / 1e6:g}M" if c >= 1e6 else f"{c / 1e3:g}k"
        out.append(f'<text x="{x}" y="{y0 + h + 18}" text-anchor="middle" font-size="11">{label}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 36}" text-anchor="middle" font-size="12">objects</text>')
    out.append(
        f'<text x="{x0 - 52}" y="{y0 + h / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 {x0 - 52} {y0 + h / 2})">{ylabel}</text>'
    )
    ly = y0 + 8
    for label, color, dashed, pts in series:
        if not pts:
            continue
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        path = " ".join(f"{px(c):.1f},{py(v):.1f}" for c, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for c, v in pts:
            out.append(f'<circle cx="{px(c):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        out.append(f'<line x1="{x0 + w + 14}" y1="{ly}" x2="{x0 + w + 40}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x0 + w + 46}" y="{ly + 4}" font-size="11">{label}</text>')
        ly += 18


def main() -> int:
    rows = read(sys.argv[1])
    counts = [r["count"] for v in rows.values() for r in v]
    if not counts:
        print("scale_plot: no results", file=sys.stderr)
        return 1
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="980" height="700" font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    thr = []
    for who in ("ours1", "ours3", "redis"):
        pts = rows.get(who, [])
        thr.append((f"{NAMES[who]}: put", COLORS[who], False, [(r["count"], r["put"]) for r in pts]))
        if who != "ours3":
            thr.append((f"{NAMES[who]}: get", COLORS[who], True, [(r["count"], r["get"]) for r in pts]))
        if who == "ours1":
            pts_load = [(r["count"], r["load_get"]) for r in pts]
            thr.append((f"{NAMES[who]}: get right after the load", "#57a6ff", True, pts_load))
    ymax = max(v for _, _, _, pts in thr for _, v in pts) * 1.1
    panel(out, 90, 40, 560, 250, "Throughput (one client, window 1024)", "operations/s", thr, counts, ymax)
    mem = []
    for who in ("ours1", "ours3", "redis"):
        pts = rows.get(who, [])
        # ours3 keeps every object on 2 of its 3 daemons: per object and replica.
        label = NAMES[who] + (" (per object and replica: RSS/2)" if who == "ours3" else "")
        div = 2 if who == "ours3" else 1
        mem.append((label, COLORS[who], False, [(r["count"], r["rss"] / r["count"] / div) for r in pts]))
    ymax = max(v for _, _, _, pts in mem for _, v in pts) * 1.1
    panel(out, 90, 400, 560, 250, "Resident memory per object", "bytes", mem, counts, ymax)
    out.append("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
