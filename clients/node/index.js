// @graph-gateway/client: helpers over the generated code in gen/ (protobuf-es
// messages and service descriptors, see README.md).
"use strict";

const { ConnectError } = require("@connectrpc/connect");
const { createGrpcTransport } = require("@connectrpc/connect-node");
const errorDetails = require("./gen/google/rpc/error_details_pb.js");
const workflows = require("./gen/graphgateway/v1/workflows_pb.js");

/** A gRPC (HTTP/2) transport to the gateway, e.g. "http://127.0.0.1:50051". */
function gatewayTransport(baseUrl, options = {}) {
  return createGrpcTransport({ baseUrl, ...options });
}

/**
 * The google.rpc details of a failed call, decoded: { errorInfo, badRequest,
 * retryInfo, workflowReport } (each undefined when absent).
 */
function errorDetailsOf(err) {
  const e = ConnectError.from(err);
  const first = (schema) => e.findDetails(schema)[0];
  return {
    code: e.code,
    errorInfo: first(errorDetails.ErrorInfoSchema),
    badRequest: first(errorDetails.BadRequestSchema),
    retryInfo: first(errorDetails.RetryInfoSchema),
    workflowReport: first(workflows.WorkflowReportSchema),
  };
}

module.exports = { gatewayTransport, errorDetailsOf };
