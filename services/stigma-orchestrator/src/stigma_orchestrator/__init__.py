"""stigma-orchestrator: the agent workflow and the activities that answer the caller."""
