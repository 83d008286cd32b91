"""Microphone to command: the input stream, echo cancelling, endpointing, recognition, the own-voice check."""
