"""Resource limits: `ResourceLimits`, token buckets and the `Governor` that enforces them."""

from pitstop.limits.bucket import TokenBucket
from pitstop.limits.config import ResourceLimits
from pitstop.limits.governor import Governor, Reservation, Wait

__all__ = ["Governor", "Reservation", "ResourceLimits", "TokenBucket", "Wait"]
