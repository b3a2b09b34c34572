"""graph-gateway client helpers.

The stubs themselves are the generated modules of the ``graphgateway.v1``
package of this distribution (``from graphgateway.v1 import pages_pb2,
pages_pb2_grpc``). This module decodes what a failed call carries in
``grpc-status-details-bin``: ``google.rpc.ErrorInfo`` (Graph's code, subcode
and fbtrace_id), ``BadRequest`` (field violations), ``RetryInfo``, and the
workflows' ``graphgateway.v1.WorkflowReport``.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from graphgateway.v1 import workflows_pb2

__all__ = ["details", "error_info", "bad_request", "retry_info", "workflow_report"]

_KINDS = {
    "google.rpc.ErrorInfo": error_details_pb2.ErrorInfo,
    "google.rpc.BadRequest": error_details_pb2.BadRequest,
    "google.rpc.RetryInfo": error_details_pb2.RetryInfo,
    "google.rpc.DebugInfo": error_details_pb2.DebugInfo,
    "google.rpc.QuotaFailure": error_details_pb2.QuotaFailure,
    "google.rpc.PreconditionFailure": error_details_pb2.PreconditionFailure,
    "google.rpc.ResourceInfo": error_details_pb2.ResourceInfo,
    "graphgateway.v1.WorkflowReport": workflows_pb2.WorkflowReport,
}


def details(err: grpc.RpcError) -> list:
    """Every status detail of a failed call, decoded (unknown types stay Any)."""
    status = rpc_status.from_call(err)
    if status is None:
        return []
    out = []
    for any_ in status.details:
        kind = _KINDS.get(any_.TypeName())
        if kind is None:
            out.append(any_)
            continue
        msg = kind()
        any_.Unpack(msg)
        out.append(msg)
    return out


def _first(err, kind):
    return next((d for d in details(err) if isinstance(d, kind)), None)


def error_info(err: grpc.RpcError):
    """The call's google.rpc.ErrorInfo (domain, reason, metadata), or None."""
    return _first(err, error_details_pb2.ErrorInfo)


def bad_request(err: grpc.RpcError):
    """The call's google.rpc.BadRequest (field violations), or None."""
    return _first(err, error_details_pb2.BadRequest)


def retry_info(err: grpc.RpcError):
    """The call's google.rpc.RetryInfo (when to come back), or None."""
    return _first(err, error_details_pb2.RetryInfo)


def workflow_report(err: grpc.RpcError):
    """A failed workflow's graphgateway.v1.WorkflowReport, or None."""
    return _first(err, workflows_pb2.WorkflowReport)
