"""The runtime (layer 5): the `Guard` facade and the parts it composes (see `_guard`)."""

from ._audit_hook import AuditSink
from ._guard import Approver, Guard, Mode

__all__ = ["Approver", "AuditSink", "Guard", "Mode"]
