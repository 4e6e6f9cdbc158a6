"""What a run reports beyond pass and fail: the host's facts, the logs of a failure, and
the comparison with a baseline run."""
