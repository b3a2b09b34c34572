// Cross-language check: Node (@grpc/grpc-js + @grpc/proto-loader) calls the
// gateway, loading the service definitions from proto/ at run time.
//
//     GATEWAY_ADDR=127.0.0.1:50051 npm test
//
// The gateway must run against its embedded sandbox (fresh demo data);
// scripts/test-xlang starts one. Checks a list, a mutation, and errors whose
// google.rpc details (BadRequest, ErrorInfo) are decoded from
// grpc-status-details-bin.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const fs = require("node:fs");

const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const ROOT = path.resolve(__dirname, "..", "..", "..", "..");
const PROTO_DIR = path.join(ROOT, "proto");
const ACME = "1000000001";

const addr = process.env.GATEWAY_ADDR;
if (!addr) {
  // Not a skip: without a gateway there is nothing to check.
  throw new Error("GATEWAY_ADDR is not set (scripts/test-xlang sets it)");
}

function protoFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...protoFiles(p));
    else if (entry.name.endsWith(".proto")) out.push(path.relative(PROTO_DIR, p));
  }
  return out.sort();
}

const definition = protoLoader.loadSync(protoFiles(PROTO_DIR), {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const v1 = grpc.loadPackageDefinition(definition).graphgateway.v1;
const credentials = grpc.credentials.createInsecure();
const pages = new v1.PageService(addr, credentials);
const adAccounts = new v1.AdAccountService(addr, credentials);

// google.rpc.Status and the detail messages, to decode the trailer.
const rpcRoot = new protobuf.Root().loadSync(path.join(__dirname, "google_rpc.proto"), {
  keepCase: true,
});
const Status = rpcRoot.lookupType("google.rpc.Status");
const kinds = {
  "type.googleapis.com/google.rpc.ErrorInfo": rpcRoot.lookupType("google.rpc.ErrorInfo"),
  "type.googleapis.com/google.rpc.BadRequest": rpcRoot.lookupType("google.rpc.BadRequest"),
};

function details(err) {
  const bin = err.metadata && err.metadata.get("grpc-status-details-bin")[0];
  assert.ok(bin, "the error carries grpc-status-details-bin");
  const status = Status.decode(bin);
  assert.equal(status.code, err.code);
  const out = {};
  for (const any of status.details) {
    const kind = kinds[any.type_url];
    if (kind) out[kind.name] = kind.toObject(kind.decode(any.value), { defaults: true });
  }
  return out;
}

function call(client, method, request) {
  const deadline = new Date(Date.now() + 10_000);
  return new Promise((resolve, reject) => {
    client[method](request, { deadline }, (err, resp) => (err ? reject(err) : resolve(resp)));
  });
}

async function callError(client, method, request) {
  try {
    await call(client, method, request);
  } catch (err) {
    return err;
  }
  assert.fail(`${method} succeeded; an error was expected`);
}

test("a list returns typed fields", async () => {
  // access_status, access_type and permitted_tasks are opt-in (Meta's Page
  // type does not list them): the read_mask names them.
  const resp = await call(pages, "ListOwnedPages", {
    business_id: ACME,
    read_mask: { paths: ["id", "name", "access_status", "access_type", "permitted_tasks", "business"] },
  });
  assert.ok(resp.pages.length > 0);
  const retail = resp.pages.find((p) => p.id === "3000000001");
  assert.ok(retail, JSON.stringify(resp.pages));
  assert.equal(retail.name, "Acme Retail");
  assert.equal(retail.access_status, "ACCESS_STATUS_CONFIRMED");
  assert.equal(retail.access_type, "ACCESS_TYPE_OWNER");
  assert.ok(retail.permitted_tasks.includes("PAGE_TASK_MANAGE"));
  assert.equal(retail.business.id, ACME);
});

test("a mutation shows in the next read", async () => {
  // Carol (10003) gets ADVERTISE on Acme Outlet, then the page's users list her with it.
  const resp = await call(pages, "AssignPageUser", {
    page_id: "3000000002",
    business: ACME,
    user: "10003",
    tasks: ["PAGE_TASK_ADVERTISE"],
  });
  assert.equal(resp.success, true);
  const users = (
    await call(pages, "ListPageUsers", {
      page_id: "3000000002",
      business: ACME,
      read_mask: { paths: ["id", "name", "tasks"] },
    })
  ).users;
  const carol = users.filter((u) => u.id === "10003");
  assert.equal(carol.length, 1, JSON.stringify(users));
  assert.deepEqual(carol[0].tasks, ["PAGE_TASK_ADVERTISE"]);
});

test("a bad id is INVALID_ARGUMENT with a field violation", async () => {
  const err = await callError(pages, "ListOwnedPages", { business_id: "not-an-id" });
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  const d = details(err);
  assert.deepEqual(
    d.BadRequest.field_violations.map((v) => v.field),
    ["business_id"],
  );
});

test("a Graph error carries ErrorInfo with code, subcode and fbtrace_id", async () => {
  // Graph refuses to remove an owned, confirmed ad account: code 100.
  const err = await callError(adAccounts, "RemoveAdAccount", {
    business_id: ACME,
    ad_account_id: "act_2000000001",
  });
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  const info = details(err).ErrorInfo;
  assert.ok(info, "ErrorInfo present");
  assert.equal(info.domain, "graph.facebook.com");
  assert.equal(info.reason, "GRAPH_INVALID_PARAMETER");
  assert.equal(info.metadata.code, "100");
  assert.equal(info.metadata.subcode, "1690001");
  assert.ok(info.metadata.fbtrace_id);
});

test.after(() => {
  pages.close();
  adAccounts.close();
});
