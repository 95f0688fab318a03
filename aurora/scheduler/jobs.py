"""Jobs and task configs as the scheduler keeps them: each config stored once, by id.

A job is its key, its current task config, its instance count and its cron settings. Configs are
deduplicated by value (equal TaskConfigs share an id) because pending tasks are grouped by
config; the id is the task-state table's config number, and storage keeps configs under the same
id, so restoring them in id order gives every task back the config it had.
"""

from __future__ import annotations

import msgspec

from aurora.model.jobkey import JobKey
from aurora.model.task import TaskConfig
from aurora.scheduler.records import SaveConfig, SaveJob


class Job(msgspec.Struct):
    key: JobKey
    config: int  # id of the current task config
    instances: int
    cron_schedule: str | None = None
    cron_collision_policy: int = 0  # KILL_EXISTING


_config_encoder = msgspec.msgpack.Encoder()
_config_decoder = msgspec.msgpack.Decoder(TaskConfig)
_job_decoder = msgspec.msgpack.Decoder(Job)


class Jobs:
    """Jobs by key and configs by id, registered in the task-state table as they appear."""

    def __init__(self, table: object) -> None:
        self.table = table
        self.jobs: dict[str, Job] = {}
        self.configs: list[TaskConfig] = []
        self._config_ids: dict[TaskConfig, int] = {}
        self.job_names: list[str] = []  # table job number -> "role/env/name"

    def job_id(self, key: JobKey) -> int:
        jid = self.table.add_job(key.role, key.environment, key.name)  # type: ignore[attr-defined]
        while len(self.job_names) <= jid:
            self.job_names.append("")
        self.job_names[jid] = str(key)
        return jid

    def config_id(self, config: TaskConfig) -> tuple[int, SaveConfig | None]:
        """The id of CONFIG, registering it (and returning the op that stores it) when new."""
        cid = self._config_ids.get(config)
        if cid is not None:
            return cid, None
        jid = self.job_id(config.job)
        cid = self.table.add_config(  # type: ignore[attr-defined]
            jid, config.is_service, config.max_task_failures)
        self.configs.append(config)
        self._config_ids[config] = cid
        return cid, SaveConfig(cid, _config_encoder.encode(config))

    def get(self, key: JobKey | str) -> Job | None:
        return self.jobs.get(str(key))

    def put(self, job: Job) -> SaveJob:
        self.jobs[str(job.key)] = job
        return SaveJob(str(job.key), _config_encoder.encode(job))

    def restore_config(self, cid: int, data: bytes) -> None:
        config = _config_decoder.decode(data)
        got, _ = self.config_id(config)
        if got != cid:
            raise ValueError(f"stored config {cid} came back as {got}: configs out of order")

    def restore_job(self, data: bytes) -> Job:
        job = _job_decoder.decode(data)
        self.job_id(job.key)
        self.jobs[str(job.key)] = job
        return job
