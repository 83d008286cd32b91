"""bedtime-stretch: an offline, audio-first voice guide through a bedtime stretching routine."""

__version__ = "0.1.0"
