"""WCAG 2.x contrast, and the colours a style sheet gives an element (the subset of the cascade the
report's CSS uses: rules whose subject is a compound of classes, by specificity then order)."""

from __future__ import annotations

import re

AA_TEXT = 4.5  # WCAG 2.x level AA, normal text


def rgb(colour: str) -> tuple[int, int, int]:
    """#rgb, #rrggbb or rgb()/rgba() as three 0-255 channels."""
    colour = colour.strip().lower()
    if m := re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*[\d.]+)?\)", colour):
        return tuple(int(g) for g in m.groups())
    digits = colour.removeprefix("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    if not re.fullmatch(r"[0-9a-f]{6}", digits):
        raise ValueError(f"not a colour this helper reads: {colour!r}")
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def luminance(colour: str) -> float:
    linear = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) for each selector of each rule, in order."""
    found = []
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        declarations = dict(tuple(part.strip() for part in d.split(":", 1)) for d in body.split(";") if ":" in d)
        found += [(s.strip(), declarations) for s in selectors.split(",")]
    return found


def declared(css: str, classes: set[str], prop: str) -> str | None:
    """The value the style sheet gives `prop` on an element with these classes (None: not declared
    there, so inherited or initial). Only rules whose subject is classes alone are considered."""
    winner, best = None, (-1, -1)
    for order, (selector, declarations) in enumerate(rules(css)):
        subject = re.split(r"[\s>+~]+", selector)[-1]
        if prop not in declarations or not re.fullmatch(r"(\.[\w-]+)+", subject):
            continue
        wanted = set(subject[1:].split("."))
        if wanted <= classes and selector == subject and (len(wanted), order) > best:
            winner, best = declarations[prop], (len(wanted), order)
    return winner
