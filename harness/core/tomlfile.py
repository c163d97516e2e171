"""Reading the project's data files (suite files, price table, presets): one clear error per bad file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse ``path``; ``what`` names the file in errors, e.g. "suite file" or "price table"."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise HarnessError(f"{what} '{path}' does not exist") from exc
    except IsADirectoryError as exc:
        raise HarnessError(f"{what} '{path}' is a directory, not a TOML file") from exc
    except OSError as exc:
        raise HarnessError(f"cannot read {what} '{path}': {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{what} '{path}' is not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{what} '{path}' is not valid TOML: {exc}") from exc
