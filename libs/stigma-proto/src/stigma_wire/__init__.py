"""The wire contract's Python side beyond the generated code.

- The one mapping between the wire's AgentSpec and the workers' AgentSpecData: the
  zigflow-worker builds specs to send, stigma-api reads them and answers them back; both go
  through here, so a field added to the spec is mapped once.
- How a caller authenticates to stigma-api (the metadata keys it reads, and the client
  interceptors that send an API key or a JWT).
"""

from stigma_wire._auth import (
    API_KEY_HEADER,
    AUTHORIZATION_HEADER,
    BEARER_PREFIX,
    CallerCredentials,
    CredentialsError,
    credential_interceptors,
    credential_metadata,
)
from stigma_wire._spec import spec_from_proto, spec_to_proto

__all__ = [
    "API_KEY_HEADER",
    "AUTHORIZATION_HEADER",
    "BEARER_PREFIX",
    "CallerCredentials",
    "CredentialsError",
    "credential_interceptors",
    "credential_metadata",
    "spec_from_proto",
    "spec_to_proto",
]
