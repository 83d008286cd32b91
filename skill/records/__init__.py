"""What is kept between sessions: history, preferences, the place to resume."""
