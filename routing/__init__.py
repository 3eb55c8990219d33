"""Call routing: the registry snapshot, the decision, and the durable record of every answered call."""
