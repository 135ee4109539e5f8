"""stigmactl: the operator's view of pending agent calls, and a way to finish a stuck one."""

from stigmactl._pending import PendingCall, pending_calls

__all__ = ["PendingCall", "pending_calls"]
