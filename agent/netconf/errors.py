"""RFC 6241 <rpc-error> as typed exceptions: handlers raise, the session serialises.

One class per error-tag of RFC 6241 Appendix A, looked up by tag through
:data:`TAG_TO_CLASS` when an error comes from elsewhere (libyang, a plugin).
"""

from __future__ import annotations

from typing import Any, ClassVar


class RpcError(Exception):
    tag: ClassVar[str] = "operation-failed"
    default_type: ClassVar[str] = "application"

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        path: str | None = None,
        app_tag: str | None = None,
        info: dict[str, str] | None = None,
        severity: str = "error",
        path_namespaces: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.default_type
        self.path = path
        self.app_tag = app_tag
        #: error-info children in the base namespace (bad-element, session-id, ...)
        self.info = info or {}
        self.severity = severity
        #: prefix -> namespace used by ``path``
        self.path_namespaces = path_namespaces or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, path={self.path!r})"


class InUse(RpcError):
    tag = "in-use"


class InvalidValue(RpcError):
    tag = "invalid-value"


class TooBig(RpcError):
    tag = "too-big"
    default_type = "rpc"


class MissingAttribute(RpcError):
    tag = "missing-attribute"
    default_type = "rpc"


class BadAttribute(RpcError):
    tag = "bad-attribute"
    default_type = "rpc"


class UnknownAttribute(RpcError):
    tag = "unknown-attribute"
    default_type = "rpc"


class MissingElement(RpcError):
    tag = "missing-element"
    default_type = "protocol"


class BadElement(RpcError):
    tag = "bad-element"
    default_type = "protocol"


class UnknownElement(RpcError):
    tag = "unknown-element"


class UnknownNamespace(RpcError):
    tag = "unknown-namespace"


class AccessDenied(RpcError):
    tag = "access-denied"


class LockDenied(RpcError):
    tag = "lock-denied"
    default_type = "protocol"


class ResourceDenied(RpcError):
    tag = "resource-denied"


class RollbackFailed(RpcError):
    tag = "rollback-failed"


class DataExists(RpcError):
    tag = "data-exists"


class DataMissing(RpcError):
    tag = "data-missing"


class OperationNotSupported(RpcError):
    tag = "operation-not-supported"
    default_type = "protocol"


class OperationFailed(RpcError):
    tag = "operation-failed"


class MalformedMessage(RpcError):
    tag = "malformed-message"
    default_type = "rpc"


TAG_TO_CLASS: dict[str, type[RpcError]] = {
    cls.tag: cls
    for cls in (
        InUse,
        InvalidValue,
        TooBig,
        MissingAttribute,
        BadAttribute,
        UnknownAttribute,
        MissingElement,
        BadElement,
        UnknownElement,
        UnknownNamespace,
        AccessDenied,
        LockDenied,
        ResourceDenied,
        RollbackFailed,
        DataExists,
        DataMissing,
        OperationNotSupported,
        OperationFailed,
        MalformedMessage,
    )
}


def error_for_tag(tag: str, message: str, **kw: Any) -> RpcError:
    return TAG_TO_CLASS.get(tag, OperationFailed)(message, **kw)
