"""ZeroMQ transport between the scheduler (ROUTER) and local agents (DEALER).

Both ends use ``zmq.asyncio`` sockets on the caller's event loop only to *wait* for input; they
then drain the socket through a synchronous shadow of the same socket (``recv_multipart(NOBLOCK)``
until EAGAIN, up to ``max_drain`` frames per wakeup), because one await per message caps
throughput. Sends never block: a frame ZeroMQ refuses (high-water mark, unknown peer) is counted
and dropped, which is safe because status updates are kept by the agent until acknowledged and
resent after a reconnect (a new scheduler epoch) or after ``resend_timeout`` without progress.

The scheduler may take input in at most every ``batch_interval`` seconds (the daemon's
``--agent-batch-ms``): what arrived meanwhile becomes one batch, so a busy scheduler commits and
acknowledges per batch rather than per message; an acknowledgement may wait ``ack_delay`` for a
launch to the same agent and ride in it (a short task's end and its agent's next task then cost
the scheduler one message, not two). Heartbeats go both ways every
``heartbeat_interval``, but only over a connection that carried nothing else in that interval:
any message proves its sender alive.

Plaintext is allowed on loopback addresses only; elsewhere both ends need CURVE keys (see
:mod:`aurora.agent.security`): the scheduler admits only the agent public keys of its allow
directory, counting refusals in ``stats.auth_denied`` / ``stats.handshake_failed``.
"""

from aurora.agent.agent_endpoint import AgentEndpoint, AgentStats
from aurora.agent.endpoint import AckToken, EndpointStats, merge_ranges
from aurora.agent.scheduler_endpoint import SchedulerEndpoint

__all__ = ["AckToken", "AgentEndpoint", "AgentStats", "EndpointStats", "SchedulerEndpoint",
           "merge_ranges"]
