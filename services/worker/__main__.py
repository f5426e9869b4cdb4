"""``python -m orderflow_services.worker``: how the coordinator starts local workers."""

import sys

from orderflow_services.worker.cli import main

sys.exit(main())
