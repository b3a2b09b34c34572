"""IG01–IG14, CT01–CT09, BB01–BB11, AS01–AS06, OB01–OB06, CB01–CB03 (BB01, OB01,
OB03, OB05, OB06 through api.call: gone from the spec), and an app without
legacy access."""

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessassetsharingagreement import BusinessAssetSharingAgreement
from facebook_business.adobjects.businessownedobjectonbehalfofrequest import (
    BusinessOwnedObjectOnBehalfOfRequest,
)
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.adobjects.iguser import IGUser
from facebook_business.adobjects.instagrambusinessasset import InstagramBusinessAsset
from facebook_business.adobjects.page import Page
from facebook_business.adobjects.productcatalog import ProductCatalog
from facebook_business.exceptions import FacebookRequestError

from conftest import ACME, GLOBEX, INITECH, ids, make_api, read_all

ops = pytest.mark.ops


def cursor_ids(api, make_cursor):
    items, requests = read_all(api, make_cursor)
    assert requests == max(len(items), 1), "limit=1 takes one request per item"
    return ids(items)


# --- Instagram --------------------------------------------------------------------


@ops("IG01", "IG02")
def test_ig01_ig02_instagram_lists(apis):
    api = apis["acme"]
    items, requests = read_all(
        api,
        lambda: Business(ACME, api=api).get_owned_instagram_accounts(fields=["id", "username"], params={"limit": 1}),
    )
    assert [(i["id"], i["username"]) for i in items] == [("6000000001", "acmeretail"), ("6000000003", "acme.outlet")]
    assert requests == 2
    assert isinstance(items[0], IGUser)
    globex = apis["globex"]
    assert cursor_ids(globex, lambda: Business(GLOBEX, api=globex).get_instagram_accounts(params={"limit": 1})) == [
        "6000000001",
        "6000000002",
    ]


@ops("IG03", "IG04", "IG05")
def test_ig03_ig04_ig05_instagram_agencies(apis):
    api = apis["acme"]
    assert cursor_ids(api, lambda: IGUser("6000000001", api=api).get_agencies(fields=["id", "name"], params={"limit": 1})) == [GLOBEX]
    asset = InstagramBusinessAsset("6000000003", api=api)
    asset.create_agency(params={"business": GLOBEX, "permitted_tasks": ["ADVERTISE", "COMMUNITY_ACTIVITY"]})
    assert cursor_ids(api, lambda: IGUser("6000000003", api=api).get_agencies(params={"limit": 1})) == [GLOBEX]
    asset.delete_agencies(params={"business": GLOBEX})
    assert cursor_ids(api, lambda: IGUser("6000000003", api=api).get_agencies(params={"limit": 1})) == []


@ops("IG07", "IG08")
def test_ig07_ig08_authorized_ad_accounts(apis):
    api = apis["acme"]
    ig = IGUser("6000000001", api=api)
    assert cursor_ids(api, lambda: ig.get_authorized_ad_accounts(params={"business": ACME, "limit": 1})) == ["act_2000000001"]
    ig.create_authorized_ad_account(params={"account_id": "2000000002", "business": ACME})
    assert cursor_ids(api, lambda: ig.get_authorized_ad_accounts(params={"business": ACME, "limit": 1})) == [
        "act_2000000001",
        "act_2000000002",
    ]


@ops("IG09", "IG10")
def test_ig09_ig10_owned_and_client_instagram_assets(apis):
    api = apis["acme"]
    items, requests = read_all(
        api,
        lambda: Business(ACME, api=api).get_owned_instagram_assets(
            fields=["id", "ig_user_id", "ig_username"], params={"limit": 1}
        ),
    )
    assert requests == 2
    assert isinstance(items[0], InstagramBusinessAsset)
    assert [(i["id"], i["ig_user_id"], i["ig_username"]) for i in items] == [
        ("6000000001", "6000000001", "acmeretail"),
        ("6000000003", "6000000003", "acme.outlet"),
    ]
    globex = apis["globex"]
    assert cursor_ids(globex, lambda: Business(GLOBEX, api=globex).get_client_instagram_assets(params={"limit": 1})) == [
        "6000000001",
        "6000000002",
    ]
    assert ids(Business(ACME, api=api).get_client_instagram_assets()) == []


@ops("IG14")
def test_ig14_instagram_business_accounts(apis):
    api = apis["acme"]
    items = list(Business(ACME, api=api).get_instagram_business_accounts(fields=["id", "username"]))
    assert isinstance(items[0], IGUser)
    assert [(i["id"], i["username"]) for i in items] == [("6000000001", "acmeretail"), ("6000000003", "acme.outlet")]
    globex = apis["globex"]
    assert ids(Business(GLOBEX, api=globex).get_instagram_business_accounts()) == []


@ops("IG11", "IG12", "IG13")
def test_ig11_to_ig13_instagram_assigned_users(apis):
    api = apis["acme"]
    asset = InstagramBusinessAsset("6000000001", api=api)
    read = lambda: cursor_ids(api, lambda: asset.get_assigned_users(params={"business": ACME, "limit": 1}))
    assert read() == []
    asset.create_assigned_user(params={"user": 10002, "tasks": ["CONTENT", "ANALYZE"]})
    asset.create_assigned_user(params={"user": 10003, "tasks": ["MESSAGES"]})
    assert read() == ["10002", "10003"]
    # An agency gives only the tasks it is permitted (Globex: ADVERTISE, ANALYZE).
    globex = apis["globex"]
    with pytest.raises(FacebookRequestError) as err:
        InstagramBusinessAsset("6000000001", api=globex).create_assigned_user(params={"user": 10006, "tasks": ["MESSAGES"]})
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 1690007)
    asset.delete_assigned_users(params={"user": 10003})
    asset.delete_assigned_users(params={"user": 10002})
    assert read() == []
    # The spec requires business on the list.
    with pytest.raises(FacebookRequestError) as err:
        asset.get_assigned_users()
    assert err.value.api_error_code() == 100


@ops("IG06")
def test_ig06_remove_instagram_account(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    biz.delete_instagram_accounts(params={"instagram_account": "6000000003"})
    assert ids(biz.get_owned_instagram_accounts()) == ["6000000001"]


# --- catalogs ----------------------------------------------------------------------


@ops("CT01", "CT02")
def test_ct01_ct02_catalog_lists(apis):
    api = apis["acme"]
    assert cursor_ids(api, lambda: Business(ACME, api=api).get_owned_product_catalogs(fields=["id", "name"], params={"limit": 1})) == ["7000000001"]
    globex = apis["globex"]
    assert cursor_ids(globex, lambda: Business(GLOBEX, api=globex).get_client_product_catalogs(params={"limit": 1})) == [
        "7000000001",
        "7000000002",
    ]


@ops("CT03", "CT04", "CT05", "CT06")
def test_ct03_to_ct06_catalog_users(apis):
    api = apis["acme"]
    catalog = ProductCatalog("7000000001", api=api)
    read = lambda: cursor_ids(api, lambda: catalog.get_assigned_users(params={"business": ACME, "limit": 1}))
    assert read() == ["10002"]
    catalog.create_assigned_user(params={"user": 10003, "tasks": ["ADVERTISE", "MANAGE_AR"]})
    assert read() == ["10002", "10003"]
    carol = BusinessUser("10003", api=api)
    assert cursor_ids(api, lambda: carol.get_assigned_product_catalogs(params={"limit": 1})) == ["7000000001"]
    catalog.delete_assigned_users(params={"user": 10003})
    assert read() == ["10002"]
    assert list(carol.get_assigned_product_catalogs()) == []


@ops("CT07")
def test_ct07_catalog_agency_with_roles(apis):
    ProductCatalog("7000000001", api=apis["acme"]).create_agency(
        params={"business": INITECH, "permitted_roles": ["ADMIN"], "skip_defaults": True, "utm_settings": {"utm_source": "sdk"}}
    )
    initech = apis["initech"]
    assert ids(Business(INITECH, api=initech).get_client_product_catalogs()) == ["7000000001"]


@ops("CT08", "CT09")
def test_ct08_catalog_agencies_and_ct09_remove(apis):
    # The sandbox is shared with the other tests (CT07 may have added
    # Initech): assertions are about what each call changes.
    catalog = ProductCatalog("7000000001", api=apis["acme"])
    catalog.create_agency(params={"business": INITECH, "permitted_tasks": ["ADVERTISE"]})
    agencies = ids(catalog.get_agencies())
    assert INITECH in agencies
    catalog.delete_agencies(params={"business": INITECH})
    assert ids(catalog.get_agencies()) == [a for a in agencies if a != INITECH]
    assert ids(Business(INITECH, api=apis["initech"]).get_client_product_catalogs()) == []
    # Leave the sandbox as CT07 left it (BB09 reads Initech as Acme's agency).
    catalog.create_agency(params={"business": INITECH, "permitted_roles": ["ADMIN"]})


# --- business to business ---------------------------------------------------------


@ops("BB07", "BB03", "BB05")
def test_bb03_bb05_bb07_ad_account_agencies(apis):
    api = apis["acme"]
    acc = AdAccount("act_2000000002", api=api)
    read = lambda: cursor_ids(api, lambda: acc.get_agencies(fields=["id", "name"], params={"limit": 1}))
    assert read() == []
    acc.create_agency(params={"business": INITECH, "permitted_tasks": ["ANALYZE", "DRAFT"]})
    assert read() == [INITECH]
    acc.delete_agencies(params={"business": INITECH})
    assert read() == []
    # Only the owner grants: an agency gets a permission error.
    with pytest.raises(FacebookRequestError) as err:
        AdAccount("act_2000000001", api=apis["globex"]).create_agency(params={"business": INITECH, "permitted_tasks": ["ANALYZE"]})
    assert 200 <= err.value.api_error_code() < 300


@ops("BB08", "BB04", "BB06")
def test_bb04_bb06_bb08_page_agencies_with_a_page_token(apis, sandbox):
    api = apis["acme"]
    read = lambda: cursor_ids(api, lambda: Page("3000000001", api=api).get_agencies(params={"limit": 1}))
    assert read() == []
    # BB04 needs the page's token: Alice (page admin) reads it.
    token = Page("3000000001", api=apis["alice"]).api_get(fields=["access_token"])["access_token"]
    assert token.startswith("sandbox-page-token-3000000001-")
    with pytest.raises(FacebookRequestError) as err:
        Page("3000000001", api=api).create_agency(params={"business": GLOBEX, "permitted_tasks": ["ANALYZE"]})
    assert err.value.api_error_code() == 210
    Page("3000000001", api=make_api(sandbox.url, token)).create_agency(
        params={"business": GLOBEX, "permitted_tasks": ["ANALYZE", "MESSAGING"]}
    )
    assert read() == [GLOBEX]
    Page("3000000001", api=api).delete_agencies(params={"business": GLOBEX})
    assert read() == []


@ops("BB01", via="call")
def test_bb01_request_agency_access_through_api_call(apis):
    api = apis["acme"]
    r = api.call("POST", (ACME, "client_ad_accounts"), params={"adaccount_id": "act_2000000006", "permitted_tasks": ["ANALYZE"]})
    assert r.json() == {"access_status": "PENDING"}
    pending = list(Business(ACME, api=api).get_pending_client_ad_accounts(fields=["id", "ad_account"]))
    assert [p["ad_account"]["id"] for p in pending] == ["act_2000000006"]


@ops("BB02", "BB11")
def test_bb02_clients_and_bb11_leave_a_client(apis):
    api = apis["globex"]
    biz = Business(GLOBEX, api=api)
    assert cursor_ids(api, lambda: biz.get_clients(fields=["id", "name"], params={"limit": 1})) == [ACME, INITECH]
    biz.delete_clients(params={"business": INITECH})
    assert cursor_ids(api, lambda: biz.get_clients(params={"limit": 1})) == [ACME]


@ops("BB09", "BB10")
def test_bb09_bb10_agencies_of_a_business(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    # Initech became an agency of catalog 7000000001 in CT07.
    assert cursor_ids(api, lambda: biz.get_agencies(fields=["id", "name"], params={"limit": 1})) == [GLOBEX, INITECH]
    biz.delete_agencies(params={"business": GLOBEX})
    assert cursor_ids(api, lambda: biz.get_agencies(params={"limit": 1})) == [INITECH]
    assert ids(Business(GLOBEX, api=apis["globex"]).get_client_ad_accounts()) == []


# --- audience sharing --------------------------------------------------------------


@ops("AS01", "AS04")
def test_as01_share_and_as04_initiated(apis):
    api = apis["acme"]
    res = CustomAudience("8200000001", api=api).create_ad_account(
        params={"adaccounts": ["2000000007", "2000000002"], "relationship_type": ["Agency"], "replace": False}
    )
    by_account = {d["ad_acct_id"]: d["audience_share_status"] for d in res["sharing_data"]}
    assert by_account == {"2000000007": "IN_PROGRESS", "2000000002": "SHARED"}
    biz = Business(ACME, api=api)
    items = list(biz.get_initiated_audience_sharing_requests(params={"recipient_id": GLOBEX, "request_status": "IN_PROGRESS"}))
    assert len(items) == 1
    assert items[0]["recipient"]["id"] == GLOBEX
    assert items[0]["request_status"] == "IN_PROGRESS"
    assert list(biz.get_initiated_audience_sharing_requests(params={"request_status": "APPROVE"})) == []


@ops("AS02", "AS03")
def test_as02_approve_and_as03_received(apis):
    api = apis["globex"]
    biz = Business(GLOBEX, api=api)
    received = lambda **p: cursor_ids(api, lambda: biz.get_received_audience_sharing_requests(params={"limit": 1, **p}))
    assert received(initiator_id=INITECH) == ["8300000001"]
    assert received(request_status="APPROVE") == []
    BusinessAssetSharingAgreement("8300000001", api=api).api_update(params={"request_response": "approve"})
    assert received(request_status="APPROVE", initiator_id=INITECH) == ["8300000001"]
    # A value outside Meta's enum (the SDK itself refuses it, so raw).
    with pytest.raises(FacebookRequestError) as err:
        api.call("GET", (GLOBEX, "received_audience_sharing_requests"), params={"request_status": "APPROVED"})
    assert err.value.api_error_code() == 100
    assert "must be one of" in err.value.api_error_message()


@ops("AS05", "AS06")
def test_as05_shared_accounts_and_as06_unshare(apis):
    # The sandbox is shared with the other tests (AS01 may have shared this
    # audience already): assertions are about what each call changes.
    api = apis["acme"]
    audience = CustomAudience("8200000001", api=api)
    assert ids(audience.get_ad_accounts())[0] == "2000000001"
    res = audience.create_ad_account(params={"adaccounts": ["2000000002"], "relationship_type": ["Information Manager"]})
    assert res["sharing_data"][0]["audience_share_status"] == "SHARED"
    shared = ids(audience.get_ad_accounts())
    assert "2000000002" in shared
    assert cursor_ids(api, lambda: audience.get_ad_accounts(params={"limit": 1})) == shared
    # (The SDK parses DELETE's answer as a bare Object: the effect is what counts.)
    audience.delete_ad_accounts(params={"adaccounts": ["2000000002"]})
    assert ids(audience.get_ad_accounts()) == [a for a in shared if a != "2000000002"]
    # The audience's own account stays; another business's admin is refused.
    with pytest.raises(FacebookRequestError) as err:
        audience.delete_ad_accounts(params={"adaccounts": ["2000000001"]})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        CustomAudience("8200000001", api=apis["globex"]).delete_ad_accounts(params={"adaccounts": ["2000000002"]})
    assert err.value.api_error_code() == 200


# --- on behalf of ----------------------------------------------------------------


@ops("OB02", "OB04")
def test_ob02_ob04_read_requests(apis):
    api = apis["globex"]
    req = BusinessOwnedObjectOnBehalfOfRequest("8400000001", api=api).api_get(
        fields=["id", "status", "receiving_business", "requesting_business", "business_owned_object"]
    )
    assert req["status"] == "IN_PROGRESS"
    assert req["receiving_business"]["id"] == ACME
    assert req["requesting_business"]["id"] == GLOBEX
    acc = AdAccount("act_2000000007", api=api)
    assert cursor_ids(api, lambda: acc.get_on_behalf_requests(params={"status": "IN_PROGRESS", "limit": 1})) == ["8400000001"]
    assert cursor_ids(api, lambda: acc.get_on_behalf_requests(params={"status": "PENDING_INTEGRITY_REVIEW", "limit": 1})) == []


@ops("OB01", "OB03", "OB05", "OB06", via="call")
def test_ob01_ob03_ob05_ob06_through_api_call(apis):
    api = apis["globex"]
    r = api.call(
        "POST",
        (GLOBEX, "sent_inprogress_onbehalf_requests"),
        params={"receiving_business": INITECH, "business_owned_object": "act_2000000007"},
    )
    new = r.json()["id"]
    sent = api.call("GET", (GLOBEX, "sent_inprogress_onbehalf_requests")).json()["data"]
    assert sorted(x["id"] for x in sent) == sorted(["8400000001", new])
    received = apis["initech"].call("GET", (INITECH, "received_inprogress_onbehalf_requests")).json()["data"]
    assert [x["id"] for x in received] == [new]
    assert api.call("DELETE", (new,)).json() == {"success": True}
    canceled = list(AdAccount("act_2000000007", api=api).get_on_behalf_requests(params={"status": "CANCELED"}))
    assert ids(canceled) == [new]
    sent = api.call("GET", (GLOBEX, "sent_inprogress_onbehalf_requests")).json()["data"]
    assert [x["id"] for x in sent] == ["8400000001"]


# --- an app without legacy access --------------------------------------------------


@ops("OB06", "BB01", via="call")
def test_legacy_edges_refused_without_access(legacy_off_sandbox):
    api = make_api(legacy_off_sandbox.url, "sandbox-token-globex-admin")
    with pytest.raises(FacebookRequestError) as err:
        api.call("GET", (GLOBEX, "sent_inprogress_onbehalf_requests"))
    assert err.value.api_error_code() == 100
    assert "nonexisting field (sent_inprogress_onbehalf_requests)" in err.value.api_error_message()
    with pytest.raises(FacebookRequestError) as err:
        api.call("POST", (GLOBEX, "client_ad_accounts"), params={"adaccount_id": "act_2000000006", "permitted_tasks": ["ANALYZE"]})
    assert err.value.api_error_code() == 3
    # Edges in the spec still answer.
    assert ids(Business(GLOBEX, api=api).get_client_ad_accounts()) == ["act_2000000001"]


@ops("CB01", "CB02", "CB03")
def test_cb01_to_cb03_child_businesses(apis):
    api = apis["acme"]
    acme = Business(ACME, api=api)
    outlets = "1000000005"
    listed = acme.get_owned_businesses(fields=["id", "name", "vertical", "timezone_id"])
    assert [(b["id"], b["vertical"], b["timezone_id"]) for b in listed] == [(outlets, "RETAIL", 1)]
    assert ids(acme.get_owned_businesses(params={"child_business_external_id": "acme-outlets"})) == [outlets]
    assert ids(acme.get_owned_businesses(params={"client_user_id": 10001})) == []
    # The child's own ad accounts and pages, with the parent's admin token.
    assert ids(Business(outlets, api=api).get_owned_ad_accounts()) == ["act_2000000008"]
    assert ids(Business(outlets, api=api).get_owned_pages()) == ["3000000010"]

    child = acme.create_owned_business(
        params={"name": "Acme Pop-up Co", "vertical": "RETAIL", "timezone_id": "1", "child_business_external_id": "popup"}
    )
    assert ids(acme.get_owned_businesses()) == [outlets, child["id"]]
    acme.delete_owned_businesses(params={"client_id": child["id"]})
    assert ids(acme.get_owned_businesses()) == [outlets]
    with pytest.raises(FacebookRequestError) as err:
        acme.delete_owned_businesses(params={"client_id": child["id"]})
    assert err.value.api_error_code() == 100
