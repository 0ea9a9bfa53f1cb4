"""Monitoring: spans, operation timers and percentiles."""
