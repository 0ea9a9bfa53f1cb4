"""Resource limits: `ResourceLimits`, token buckets and the `Governor` that enforces them."""

from pitstop._limits.bucket import TokenBucket
from pitstop._limits.config import ResourceLimits
from pitstop._limits.governor import Governor, Reservation, Wait

__all__ = ["Governor", "Reservation", "ResourceLimits", "TokenBucket", "Wait"]
