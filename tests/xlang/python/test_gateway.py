"""Cross-language check: Python calls the gateway through the client package
graph-gateway-client (the wheel scripts/build-clients builds from proto/ with
grpcio-tools; scripts/test-xlang installs it into the venv).

    GATEWAY_ADDR=127.0.0.1:50051 python tests/xlang/python/test_gateway.py

The gateway must run against its embedded sandbox (fresh demo data);
scripts/test-xlang starts one. Checks a list, a mutation, and errors whose
google.rpc details (BadRequest, ErrorInfo) the package's helpers decode. Ends
with the line "N passed, M failed" and exits non-zero on any failure.
"""

import os
import sys
import unittest

import grpc
import graph_gateway_client
from google.protobuf import field_mask_pb2
from graph_gateway_client import bad_request, error_info
from graphgateway.v1 import ad_accounts_pb2, ad_accounts_pb2_grpc
from graphgateway.v1 import common_pb2, pages_pb2, pages_pb2_grpc
from grpc_status import rpc_status

ACME = "1000000001"
BOB = "10002"

# The stubs come from the installed wheel, not from a tree generated here.
for module in (graph_gateway_client, pages_pb2):
    if "site-packages" not in (module.__file__ or ""):
        sys.exit(f"{module.__name__} is not the installed package: {module.__file__}")


class GatewayFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        addr = os.environ.get("GATEWAY_ADDR")
        if not addr:
            raise unittest.SkipTest("GATEWAY_ADDR is not set (scripts/test-xlang sets it)")
        cls.channel = grpc.insecure_channel(addr)
        grpc.channel_ready_future(cls.channel).result(timeout=30)
        cls.pages = pages_pb2_grpc.PageServiceStub(cls.channel)
        cls.ad_accounts = ad_accounts_pb2_grpc.AdAccountServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def test_list_owned_pages_has_typed_fields(self):
        # access_status, access_type and permitted_tasks are opt-in (Meta's
        # Page type does not list them): the read_mask names them.
        mask = field_mask_pb2.FieldMask(
            paths=["id", "name", "access_status", "access_type", "permitted_tasks", "business"]
        )
        resp = self.pages.ListOwnedPages(
            pages_pb2.ListOwnedPagesRequest(business_id=ACME, read_mask=mask), timeout=10
        )
        self.assertGreater(len(resp.pages), 0)
        by_id = {p.id: p for p in resp.pages}
        retail = by_id["3000000001"]
        self.assertEqual(retail.name, "Acme Retail")
        self.assertEqual(retail.access_status, common_pb2.ACCESS_STATUS_CONFIRMED)
        self.assertEqual(retail.access_type, common_pb2.ACCESS_TYPE_OWNER)
        self.assertIn(common_pb2.PAGE_TASK_MANAGE, retail.permitted_tasks)
        self.assertEqual(retail.business.id, ACME)
        for p in resp.pages:
            self.assertTrue(p.id.isdigit(), p.id)

    def test_mutation_assigns_a_page_user_and_the_list_shows_it(self):
        resp = self.pages.AssignPageUser(
            pages_pb2.AssignPageUserRequest(
                page_id="3000000002",
                business=ACME,
                user=BOB,
                tasks=[common_pb2.PAGE_TASK_ANALYZE],
            ),
            timeout=10,
        )
        self.assertTrue(resp.success)
        users = self.pages.ListPageUsers(
            pages_pb2.ListPageUsersRequest(
                page_id="3000000002",
                business=ACME,
                read_mask=field_mask_pb2.FieldMask(paths=["id", "name", "tasks"]),
            ),
            timeout=10,
        ).users
        bob = [u for u in users if u.id == BOB]
        self.assertEqual(len(bob), 1, users)
        self.assertEqual(list(bob[0].tasks), [common_pb2.PAGE_TASK_ANALYZE])

    def test_a_bad_id_is_invalid_argument_with_bad_request(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.pages.ListOwnedPages(
                pages_pb2.ListOwnedPagesRequest(business_id="not-an-id"), timeout=10
            )
        err = caught.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        bad = bad_request(err)
        self.assertIsNotNone(bad, rpc_status.from_call(err))
        self.assertEqual([v.field for v in bad.field_violations], ["business_id"])

    def test_a_graph_error_carries_error_info(self):
        # Graph refuses to remove an owned, confirmed ad account: code 100.
        with self.assertRaises(grpc.RpcError) as caught:
            self.ad_accounts.RemoveAdAccount(
                ad_accounts_pb2.RemoveAdAccountRequest(
                    business_id=ACME, ad_account_id="act_2000000001"
                ),
                timeout=10,
            )
        err = caught.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        info = error_info(err)
        self.assertIsNotNone(info, rpc_status.from_call(err))
        self.assertEqual(info.domain, "graph.facebook.com")
        self.assertEqual(info.reason, "GRAPH_INVALID_PARAMETER")
        self.assertEqual(info.metadata["code"], "100")
        self.assertEqual(info.metadata["subcode"], "1690001")
        self.assertTrue(info.metadata["fbtrace_id"])


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(GatewayFromPython)
    )
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"python: {passed} passed, {failed} failed, {len(result.skipped)} skipped")
    sys.exit(1 if failed or result.skipped or result.testsRun == 0 else 0)
