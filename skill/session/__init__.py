"""Command to what happens next: the pure controller, its messages, the loop that drives it, the wiring."""
