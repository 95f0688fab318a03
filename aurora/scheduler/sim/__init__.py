"""The ``sim`` backend (``aurora-scheduler --backend sim``): simulated agents for benchmarks and
policy tests, up to 100,000 hosts and 1,000,000 tasks.

:mod:`.config` (``SimConfig``: cluster shape, task behaviour, delivery), :mod:`.backend`
(``SimBackend``: launches, kills, reconciliation, the step timers), :mod:`.delivery` (batches,
ack tokens, resends), :mod:`.records` (per-task record, counters).
"""

from aurora.scheduler.sim.backend import SimBackend
from aurora.scheduler.sim.config import AttributeRule, SimConfig, build_hosts
from aurora.scheduler.sim.records import SimStats

__all__ = ["AttributeRule", "SimBackend", "SimConfig", "SimStats", "build_hosts"]
