"""Local agents: the ZeroMQ channel between the scheduler and the agents that run tasks."""
