"""What is said and when: routines as data, the script of each position, the pacing of holds."""
