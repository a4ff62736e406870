"""Real containers, as in tests/integration: the same fixtures (each test has
its own state root and unique ids, and whatever it leaves is force-deleted
and checked gone, even when it fails)."""
from tests.integration.conftest import (  # noqa: F401 - fixtures
    Runtime, base_config, bind, one_line_error, public_base, public_tmp, read_fifo, rootfs, rt,
    shared_dir, wait_pids_gone)
