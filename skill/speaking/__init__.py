"""Text to the speaker: the Piper voice, the phrase cache, the live and the terminal speakers, render."""
