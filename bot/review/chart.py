"""The adapter timeline's chart: held-out answers right, each candidate beside its baseline, as SVG."""

from __future__ import annotations

from html import escape

from bot.services.review import AdapterRow

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 44, 28, 12
COLORS = {"live": "#2e7d32", "retired": "#2e7d32", "rejected": "#c62828", "rolled_back": "#ef6c00"}


def accuracy_chart(adapters: list[AdapterRow]) -> str:
    """One column per version: a dot for the share of held-out answers it got right (its color says
    what the gate did) over a grey dot for its baseline's on the same questions. Empty without data."""
    points = [a for a in adapters if a.candidate_right is not None and a.heldout_examples]
    if not points:
        return ""
    plot_w, plot_h = WIDTH - LEFT - 12, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(points), 1)

    def y(share: float) -> float:
        return TOP + plot_h * (1 - share)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="Held-out answers right by adapter version" data-testid="chart">'
    ]
    for share in (0, 0.5, 1):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - 12}" y1="{y(share):.1f}" y2="{y(share):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y(share) + 4:.1f}" text-anchor="end" font-size="11">{share:.0%}</text>'
        )
    for i, adapter in enumerate(points):
        x = LEFT + step * (i + 0.5)
        n = adapter.heldout_examples
        right = (adapter.candidate_right or 0) / n
        color = COLORS.get(adapter.status, "#1565c0")
        label = escape(adapter.label)
        if adapter.baseline_right is not None:
            base = adapter.baseline_right / n
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(base):.1f}" y2="{y(right):.1f}" stroke="#bbb"/>'
                f'<circle cx="{x:.1f}" cy="{y(base):.1f}" r="4" fill="#9e9e9e">'
                f"<title>{escape(adapter.baseline_label)}: {adapter.baseline_right}/{n}</title></circle>"
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y(right):.1f}" r="6" fill="{color}" data-version="{label}">'
            f"<title>{label} ({escape(adapter.status)}): {adapter.candidate_right}/{n} right</title></circle>"
            f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
