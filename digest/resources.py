"""Where the templates and migrations are: at the top of a checkout, or inside an installed wheel."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def resource_dir(name: str) -> Path:
    """`templates` or `migrations`: the wheel's bundled copy when installed, else the checkout's."""
    for candidate in (_PACKAGE / "_bundled" / name, _CHECKOUT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name!r} folder beside {_PACKAGE}")
