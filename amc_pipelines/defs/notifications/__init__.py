from amc_pipelines.defs.notifications.sensors import amc_run_failure_webhook, defs

__all__ = ["amc_run_failure_webhook", "defs"]
