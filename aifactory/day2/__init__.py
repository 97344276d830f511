"""Day 2: rolling a disruptive change out batch by batch, and replacing a node."""
