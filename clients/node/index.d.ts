import type { Transport } from "@connectrpc/connect";
import type { GrpcTransportOptions } from "@connectrpc/connect-node";
import type { Code } from "@connectrpc/connect";
import type { BadRequest, ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details_pb.js";
import type { WorkflowReport } from "./gen/graphgateway/v1/workflows_pb.js";

/** A gRPC (HTTP/2) transport to the gateway, e.g. "http://127.0.0.1:50051". */
export declare function gatewayTransport(
  baseUrl: string,
  options?: Partial<GrpcTransportOptions>,
): Transport;

/** The google.rpc details of a failed call, decoded. */
export declare function errorDetailsOf(err: unknown): {
  code: Code;
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
  workflowReport?: WorkflowReport;
};
