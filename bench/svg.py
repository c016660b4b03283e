"""A confusion matrix as a self-contained SVG picture (no plotting library needed)."""

from __future__ import annotations

from html import escape

__all__ = ["confusion_svg"]


def confusion_svg(confusion: dict[str, dict[str, int]], title: str) -> str:
    """Rows: true label; columns: what was routed ("(none)" = not routed). Cells shaded by share."""
    rows = sorted(confusion)
    cols = sorted({c for r in confusion.values() for c in r} | set(rows))
    cell, left, top = 22, 170, 170
    width, height = left + cell * len(cols) + 20, top + cell * len(rows) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="10" y="18" font-size="14">{escape(title)}</text>']
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(f'<text transform="translate({x + 4},{top - 6}) rotate(-60)">'
                     f'{escape(c)}</text>')
    for i, r in enumerate(rows):
        y = top + i * cell
        total = sum(confusion[r].values()) or 1
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(r)}</text>')
        for j, c in enumerate(cols):
            n = confusion[r].get(c, 0)
            share = n / total
            colour = (f"rgb({int(255 - 200 * share)},{int(255 - 120 * share)},255)" if c == r
                      else f"rgb(255,{int(255 - 200 * share)},{int(255 - 200 * share)})")
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell}" height="{cell}" '
                         f'fill="{colour}" stroke="#ddd"/>')
            if n:
                parts.append(f'<text x="{left + j * cell + cell / 2}" y="{y + 15}" '
                             f'text-anchor="middle">{n}</text>')
    parts.append(f'<text x="10" y="{height - 12}">rows: what the caller wanted; columns: '
                 'where the engine routed ((none) = not routed)</text></svg>')
    return "\n".join(parts)
