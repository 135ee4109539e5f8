"""stigma-api: the gRPC front door of Stigma (stigma.agent.v1.AgentService)."""
