"""``python -m oms_analytics worker``: run the analytics service's faust worker."""

from __future__ import annotations

import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError

from oms_analytics.bootstrap import build_worker
from oms_analytics.config import AnalyticsSettings
from oms_runtime import configure_logging, invalid_configuration


def main(argv: list[str]) -> int:
    if argv != ["worker"]:
        print("usage: python -m oms_analytics worker", file=sys.stderr)
        return 2
    configure_logging("analytics")
    try:
        settings = AnalyticsSettings()
    except (ValidationError, SettingsError) as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        return 2
    build_worker(settings).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
