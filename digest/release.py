"""The release this copy of the service is. pyproject.toml's version is the one place it is written;
the installed package's metadata carries it here (the CLI's --version, the poller's User-Agent)."""

from importlib.metadata import PackageNotFoundError, version


def release() -> str:
    try:
        return version("analyst-digest")
    except PackageNotFoundError:  # a source tree run without being installed
        return "dev"
