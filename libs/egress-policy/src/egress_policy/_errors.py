from __future__ import annotations


class EgressDenied(PermissionError):
    """The policy refuses this destination.

    The message names the host, the address it resolved to (``not resolved`` when the
    name alone was refused) and the rule that refused it. It never holds the URL's
    query string or userinfo: they may carry secrets.
    """

    def __init__(self, *, host: str, address: str | None, rule: str) -> None:
        self.host = host
        """The destination's host, as the URL or the caller named it (normalized)."""
        self.address = address
        """The refused address the host resolved to, or None when the name was refused."""
        self.rule = rule
        """Why: the rule or built-in refusal that matched, in words."""
        where = address if address is not None else "not resolved"
        super().__init__(f"egress to {host} ({where}) refused: {rule}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_denied, (self.host, self.address, self.rule))


def _denied(host: str, address: str | None, rule: str) -> EgressDenied:
    return EgressDenied(host=host, address=address, rule=rule)


class ResponseTooLarge(ValueError):
    """A response body longer than the limit; reading stopped as soon as it was passed."""

    def __init__(self, *, limit: int, read: int, announced: int | None = None) -> None:
        self.limit = limit
        """The limit, in bytes (of the decoded body)."""
        self.read = read
        """How many bytes were read before stopping (0 when refused on Content-Length)."""
        self.announced = announced
        """The Content-Length that announced more than the limit, if that is why."""
        if announced is not None:
            how = f"Content-Length announces {announced} bytes"
        else:
            how = f"stopped after reading {read} bytes"
        super().__init__(f"response body over the limit of {limit} bytes: {how}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_too_large, (self.limit, self.read, self.announced))


def _too_large(limit: int, read: int, announced: int | None) -> ResponseTooLarge:
    return ResponseTooLarge(limit=limit, read=read, announced=announced)
