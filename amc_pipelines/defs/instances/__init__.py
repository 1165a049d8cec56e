from amc_pipelines.defs.instances.sensors import amc_instances_partitions, defs, sync_amc_instances

__all__ = ["amc_instances_partitions", "defs", "sync_amc_instances"]
