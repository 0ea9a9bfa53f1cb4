"""Batches: the local runner, the resume journal and the Ray engine (see `pitstop.distributed`)."""
