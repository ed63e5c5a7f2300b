"""The one table the bench prints (and saves to .cache/bench/results.md)."""

from dataclasses import dataclass, field

from common import median


@dataclass
class Row:
    section: str  # A (agent role speed), B (django_apm overhead), C (fleet), D (trace filter per span)
    figure: str
    values: list  # one per run; the median is the figure
    unit: str  # s, ms, floors, x (a ratio) or ""
    target: float | None = None  # an upper bound: the median meets it or not
    target_text: str = ""  # a target without a bound to check
    seconds: list = field(default_factory=list)  # for figures in floors: the same runs in seconds
    note: str = ""


def fmt(value, unit):
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "us":
        return f"{value:.2f} µs"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "floors":
        return f"{value:.2f} floors"
    return f"{value:g}"


def render(rows):
    header = ["", "figure", "median", "runs: min - max", "target", "met", "note"]
    lines = [header]
    for row in rows:
        value = fmt(median(row.values), row.unit)
        if row.seconds:
            value += f" ({median(row.seconds):.1f} s)"
        spread = f"{len(row.values)}: {fmt(min(row.values), row.unit)} - {fmt(max(row.values), row.unit)}"
        if row.target is not None:
            target = f"<= {row.target:g} {row.unit}"
            met = "yes" if median(row.values) <= row.target else "NO"
        else:
            target, met = row.target_text, ""
        lines.append([row.section, row.figure, value, spread, target, met, row.note])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)
