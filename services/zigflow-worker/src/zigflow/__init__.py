"""Zigflow: Serverless Workflow DSL 1.0 definitions run as Temporal workflows."""
