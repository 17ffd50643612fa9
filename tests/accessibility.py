"""axe-core, the accessibility engine (bundled by the axe-playwright-python package: nothing is
downloaded at test time), run on a page as people see it: in light and in dark colour scheme, at a
desktop's and a phone's width. The rules are WCAG 2.1 A and AA and axe's best practices.

An email shown inside a page (the edition's preview, the archived edition) is left to the email's
own checks: axe looks at the page around it, not into its frames."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
SCHEMES = ("light", "dark")
WIDTHS = (1280, 375)
OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"], "iframes": False}

_axe = Axe()


def violations(page) -> dict[str, list[str]]:
    """axe's violations on the page as it is now: rule id -> the elements (CSS selectors) that fail it."""
    found = _axe.run(page, options=OPTIONS).response["violations"]
    return {rule["id"]: [" ".join(map(str, node["target"])) for node in rule["nodes"]] for rule in found}


def check(page, name: str, widths=WIDTHS, schemes=SCHEMES) -> list[str]:
    """Every violation on the page, in each colour scheme at each width, one line each, naming the
    page state (`name`), the scheme and width, the rule and the elements. The page is left at
    1280 px in the light scheme."""
    problems = []
    size = page.viewport_size
    for scheme in schemes:
        page.emulate_media(color_scheme=scheme)
        for width in widths:
            page.set_viewport_size({"width": width, "height": size["height"]})
            for rule, targets in violations(page).items():
                problems.append(f"{name} ({scheme}, {width} px): {rule}: {', '.join(targets[:6])}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(size)
    return problems


def report(problems: list[str]) -> str:
    """A failure message: how many of each rule, then every line."""
    rules: dict[str, int] = {}
    for line in problems:
        rule = line.split(": ", 2)[1]
        rules[rule] = rules.get(rule, 0) + 1
    summary = ", ".join(f"{rule} x{count}" for rule, count in sorted(rules.items()))
    return f"{len(problems)} accessibility violations (axe-core, {', '.join(TAGS)}): {summary}\n" + "\n".join(problems)
