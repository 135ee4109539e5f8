"""The one mapping between the wire's AgentSpec and the workers' AgentSpecData.

The zigflow-worker builds specs to send, stigma-api reads them and answers them back:
both go through here, so a field added to the spec is mapped once.
"""

from stigma_wire._spec import spec_from_proto, spec_to_proto

__all__ = ["spec_from_proto", "spec_to_proto"]
