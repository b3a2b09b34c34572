"""AA01–AA11, PG01–PG11, AP01–AP08, PX01–PX10, ME01 and the SDK's error
objects (AP04 through api.call: gone from the spec)."""

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adspixel import AdsPixel
from facebook_business.adobjects.application import Application
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessadaccountrequest import BusinessAdAccountRequest
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.adobjects.page import Page
from facebook_business.adobjects.user import User
from facebook_business.exceptions import FacebookRequestError

from conftest import ACME, GLOBEX, ids, make_api, read_all

ops = pytest.mark.ops


def cursor_ids(api, make_cursor):
    items, requests = read_all(api, make_cursor)
    assert requests == max(len(items), 1), "limit=1 takes one request per item"
    return ids(items)


# --- identity and errors ----------------------------------------------------------


@ops("ME01")
def test_me01_me_and_bad_token(apis, sandbox):
    me = User("me", api=apis["acme"]).api_get(fields=["id", "name"])
    assert (me["id"], me["name"]) == ("10101", "Acme Admin System User")
    bad = make_api(sandbox.url, "not-a-token")
    with pytest.raises(FacebookRequestError) as err:
        User("me", api=bad).api_get(fields=["id"])
    assert err.value.api_error_code() == 190
    assert err.value.http_status() == 400
    assert err.value.api_error_type() == "OAuthException"


# --- ad accounts ------------------------------------------------------------------


@ops("AA03")
def test_aa03_owned_ad_accounts_with_spec_params(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    assert cursor_ids(api, lambda: biz.get_owned_ad_accounts(fields=["id", "name"], params={"limit": 1})) == [
        "act_2000000001",
        "act_2000000002",
    ]
    assert cursor_ids(api, lambda: biz.get_owned_ad_accounts(params={"search_query": "retarget", "limit": 1})) == [
        "act_2000000002"
    ]
    globex = apis["globex"]
    assert cursor_ids(
        globex,
        lambda: Business(GLOBEX, api=globex).get_owned_ad_accounts(
            params={"include_shared_ad_accounts": True, "limit": 1}
        ),
    ) == ["act_2000000001", "act_2000000007"]


@ops("AA01")
def test_aa01_claim_confirmed_then_listed(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    res = biz.create_owned_ad_account(params={"adaccount_id": "act_2000000005"})
    assert res["access_status"] == "CONFIRMED"
    assert "act_2000000005" in ids(biz.get_owned_ad_accounts(params={"limit": 10}))


@ops("AA02")
def test_aa02_create_ad_account(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    acc = biz.create_ad_account(
        params={
            "name": "SDK Account",
            "currency": "EUR",
            "timezone_id": 1,
            # The spec (and the SDK) type end_advertiser as Object.
            "end_advertiser": {"id": ACME},
            "media_agency": "NONE",
            "partner": "NONE",
            "po_number": "PO-7",
            "invoice": False,
        }
    )
    assert isinstance(acc, AdAccount)
    assert acc["id"].startswith("act_") and acc["account_id"] == acc["id"][4:]
    assert acc["business_id"] == ACME
    listed = list(biz.get_owned_ad_accounts(fields=["id", "name", "currency"], params={"search_query": "SDK"}))
    assert [(a["id"], a["name"], a["currency"]) for a in listed] == [(acc["id"], "SDK Account", "EUR")]


@ops("AA04", "AA05")
def test_aa04_pending_requests_and_aa05_remove(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    items, _ = read_all(api, lambda: biz.get_pending_owned_ad_accounts(fields=["id", "ad_account"], params={"limit": 1}))
    assert len(items) == 1
    assert isinstance(items[0], BusinessAdAccountRequest)
    assert items[0]["ad_account"]["id"] == "act_2000000003"
    assert items[0]["ad_account"]["name"] == "Acme Legacy Account"
    assert items[0]["id"] not in ("act_2000000003", "2000000003")
    # AA05: a pending claim can be withdrawn; an owned, confirmed one not.
    biz.delete_ad_accounts(params={"adaccount_id": "act_2000000003"})
    assert list(biz.get_pending_owned_ad_accounts()) == []
    with pytest.raises(FacebookRequestError) as err:
        biz.delete_ad_accounts(params={"adaccount_id": "act_2000000001"})
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 1690001)


@ops("AA06")
def test_aa06_user_ad_accounts(apis):
    api = apis["acme"]
    assert cursor_ids(api, lambda: BusinessUser("10002", api=api).get_assigned_ad_accounts(params={"limit": 1})) == [
        "act_2000000001",
        "act_2000000002",
    ]


@ops("AA07", "AA08", "AA09")
def test_aa07_aa08_aa09_ad_account_users(apis):
    api = apis["acme"]
    acc = AdAccount("act_2000000002", api=api)
    read = lambda: cursor_ids(api, lambda: acc.get_assigned_users(fields=["id", "name"], params={"business": ACME, "limit": 1}))
    before = read()
    assert "10001" not in before and "10002" in before
    acc.create_assigned_user(params={"user": 10001, "tasks": ["ANALYZE", "DRAFT"]})
    assert "10001" in read()
    acc.delete_assigned_users(params={"user": 10001})
    assert read() == before
    # AA07 requires business (Meta's spec).
    with pytest.raises(FacebookRequestError) as err:
        list(acc.get_assigned_users())
    assert err.value.api_error_code() == 100
    assert "business is required" in err.value.api_error_message()


@ops("AA10", "AA11")
def test_aa10_aa11_agency_ad_accounts(apis):
    api = apis["globex"]
    biz = Business(GLOBEX, api=api)
    assert cursor_ids(api, lambda: biz.get_client_ad_accounts(params={"limit": 1})) == ["act_2000000001"]
    assert cursor_ids(api, lambda: biz.get_client_ad_accounts(params={"search_query": "zzz", "limit": 1})) == []
    pending = list(biz.get_pending_client_ad_accounts(fields=["id", "ad_account"]))
    assert [p["ad_account"]["id"] for p in pending] == ["act_2000000006"]


# --- pages ------------------------------------------------------------------------


@ops("PG04", "PG01")
def test_pg04_owned_pages_and_pg01_claim(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    assert cursor_ids(api, lambda: biz.get_owned_pages(fields=["id", "name"], params={"limit": 1})) == [
        "3000000001",
        "3000000002",
        "3000000008",
    ]
    res = biz.create_owned_page(params={"page_id": "3000000003", "entry_point": "SDK"})
    assert res["access_status"] == "CONFIRMED"
    res = biz.create_owned_page(params={"page_id": "3000000004"})
    assert res["access_status"] == "PENDING"
    assert "3000000003" in ids(biz.get_owned_pages(params={"limit": 10}))


@ops("PG11")
def test_pg11_pending_owned_pages(apis):
    api = apis["acme"]
    items, _ = read_all(api, lambda: Business(ACME, api=api).get_pending_owned_pages(fields=["id", "page"], params={"limit": 1}))
    assert sorted(i["page"]["id"] for i in items) == ["3000000004", "3000000007"]
    assert len({i["id"] for i in items}) == 2


@ops("PG02", "PG03", "PG05")
def test_pg02_pg03_pg05_agency_pages(apis):
    api = apis["globex"]
    biz = Business(GLOBEX, api=api)
    assert cursor_ids(api, lambda: biz.get_client_pages(params={"limit": 1})) == ["3000000002"]
    pending = list(biz.get_pending_client_pages(fields=["id", "page"]))
    assert [p["page"]["id"] for p in pending] == ["3000000005"]
    res = biz.create_client_page(params={"page_id": "3000000009", "permitted_tasks": ["ANALYZE", "MANAGE_LEADS"]})
    assert res["access_status"] == "CONFIRMED"
    assert cursor_ids(api, lambda: biz.get_client_pages(params={"limit": 1})) == ["3000000002", "3000000009"]


@ops("PG07", "PG09", "PG10", "PG08")
def test_pg07_to_pg10_page_users(apis):
    api = apis["acme"]
    page = Page("3000000001", api=api)
    read = lambda: cursor_ids(api, lambda: page.get_assigned_users(params={"business": ACME, "limit": 1}))
    assert "10002" not in read()
    page.create_assigned_user(params={"user": 10002, "tasks": ["ANALYZE", "CREATE_CONTENT"]})
    assert "10002" in read()
    bob = BusinessUser("10002", api=api)
    assert cursor_ids(api, lambda: bob.get_assigned_pages(params={"limit": 1})) == ["3000000001", "3000000002"]
    assert cursor_ids(api, lambda: bob.get_assigned_pages(params={"pages": ["3000000002"], "limit": 1})) == ["3000000002"]
    page.delete_assigned_users(params={"user": 10002})
    assert "10002" not in read()


@ops("PG06")
def test_pg06_remove_page(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    biz.delete_pages(params={"page_id": "3000000008"})
    assert "3000000008" not in ids(biz.get_owned_pages(params={"limit": 10}))
    with pytest.raises(FacebookRequestError) as err:
        biz.delete_pages(params={"page_id": "3000000002"})
    assert err.value.api_error_subcode() == 1690003


# --- apps and pixels ----------------------------------------------------------------


@ops("AP01", "AP02", "AP03", "AP05", "AP06")
def test_ap01_to_ap06_apps(apis):
    api = apis["acme"]
    biz = Business(ACME, api=api)
    assert cursor_ids(api, lambda: biz.get_owned_apps(fields=["id", "name"], params={"limit": 1})) == ["4000000001"]
    assert cursor_ids(api, lambda: biz.get_client_apps(params={"limit": 1})) == ["4000000002"]
    assert [r["application"]["id"] for r in biz.get_pending_client_apps(fields=["id", "application"])] == ["4000000003"]
    assert biz.create_owned_app(params={"app_id": {"id": "4000000004"}})["access_status"] == "CONFIRMED"
    assert cursor_ids(api, lambda: biz.get_owned_apps(params={"limit": 1})) == ["4000000001", "4000000004"]
    globex = Business(GLOBEX, api=apis["globex"])
    assert globex.create_client_app(params={"app_id": {"id": "4000000001"}})["access_status"] == "PENDING"
    assert [r["application"]["id"] for r in globex.get_pending_client_apps(fields=["id", "application"])] == ["4000000001"]


@ops("AP04", via="call")
def test_ap04_remove_app_through_api_call(apis):
    api = apis["acme"]
    r = api.call("DELETE", (ACME, "apps"), params={"app_id": "4000000004"})
    assert r.json() == {"success": True}
    assert ids(Business(ACME, api=api).get_owned_apps()) == ["4000000001"]


@ops("AP07", "AP08")
def test_ap07_app_agencies_and_ap08_authorized_ad_accounts(apis):
    globex = apis["globex"]
    assert ids(Application("4000000002", api=globex).get_agencies(fields=["id", "name"])) == [ACME]
    acme = apis["acme"]
    app = Application("4000000001", api=acme)
    # AP06 (above) made Globex ask for access to Acme Shop: a PENDING agency.
    assert ids(app.get_agencies()) == [GLOBEX]
    assert ids(app.get_authorized_ad_accounts(params={"business": ACME})) == ["act_2000000001"]
    assert ids(app.get_authorized_ad_accounts()) == ["act_2000000001"]


@ops("PX01", "PX02")
def test_px01_px02_pixels(apis):
    api = apis["acme"]
    assert cursor_ids(api, lambda: Business(ACME, api=api).get_owned_pixels(fields=["id", "name"], params={"limit": 1})) == [
        "5000000001"
    ]
    globex = apis["globex"]
    assert cursor_ids(globex, lambda: Business(GLOBEX, api=globex).get_client_pixels(params={"limit": 1})) == ["5000000002"]


@ops("PX03", "PX04")
def test_px03_pixel_agencies_and_px04_remove(apis):
    # Runs after PX02, which reads Globex as the pixel's agency.
    initech = apis["initech"]
    pixel = AdsPixel("5000000002", api=initech)
    assert ids(pixel.get_agencies()) == [GLOBEX]
    pixel.delete_agencies(params={"business": GLOBEX})
    assert ids(pixel.get_agencies()) == []
    globex = apis["globex"]
    assert ids(Business(GLOBEX, api=globex).get_client_pixels()) == []
    with pytest.raises(FacebookRequestError) as err:
        pixel.delete_agencies(params={"business": GLOBEX})
    assert err.value.api_error_code() == 100


@ops("PX10")
def test_px10_grant_pixel_agency(apis):
    # Runs after PX04, which removed Globex from Initech's pixel: Initech
    # grants it again with the SDK's own AdsPixel.create_agency.
    initech = apis["initech"]
    pixel = AdsPixel("5000000002", api=initech)
    assert ids(pixel.get_agencies()) == []
    pixel.create_agency(
        params={"business": GLOBEX, "permitted_tasks": [AdsPixel.PermittedTasks.analyze, AdsPixel.PermittedTasks.advertise]}
    )
    assert ids(pixel.get_agencies()) == [GLOBEX]
    globex = apis["globex"]
    assert ids(Business(GLOBEX, api=globex).get_client_pixels()) == ["5000000002"]
    # Only the owner's admins grant: Globex is just an agency of the pixel.
    with pytest.raises(FacebookRequestError) as err:
        AdsPixel("5000000002", api=globex).create_agency(params={"business": ACME, "permitted_tasks": ["ANALYZE"]})
    assert err.value.api_error_code() == 200
    # Meta's pixel agency tasks have no AA_ANALYZE (the SDK's enum neither:
    # sent raw), and permitted_tasks is required.
    for params in ({"business": ACME, "permitted_tasks": ["AA_ANALYZE"]}, {"business": ACME}):
        with pytest.raises(FacebookRequestError) as err:
            initech.call("POST", ("5000000002", "agencies"), params=params)
        assert err.value.api_error_code() == 100
    assert ids(pixel.get_agencies()) == [GLOBEX]


@ops("PX05", "PX06", "PX07", "PX08", "PX09")
def test_px05_to_px09_pixel_users_and_shared_accounts(apis):
    api = apis["acme"]
    pixel = AdsPixel("5000000001", api=api)
    # Carol's ANALYZE comes from the Acme Brand Team asset group.
    users = pixel.get_assigned_users(fields=["id", "name", "user_type"], params={"business": ACME})
    assert [(u["id"], u["user_type"]) for u in users] == [("10003", "BUSINESS_USER")]
    pixel.create_assigned_user(params={"user": 10002, "tasks": ["ANALYZE", "UPLOAD"]})
    assert ids(pixel.get_assigned_users(params={"business": ACME})) == ["10002", "10003"]
    with pytest.raises(FacebookRequestError) as err:
        pixel.create_assigned_user(params={"user": 10003, "tasks": ["EDIT"]})
    assert err.value.api_error_code() == 100

    assert ids(pixel.get_shared_accounts(params={"business": ACME})) == ["act_2000000001"]
    pixel.create_shared_account(params={"account_id": "2000000002", "business": ACME})
    assert ids(pixel.get_shared_accounts(params={"business": ACME})) == ["act_2000000001", "act_2000000002"]
    pixel.delete_shared_accounts(params={"account_id": "2000000001", "business": ACME})
    assert ids(pixel.get_shared_accounts(params={"business": ACME})) == ["act_2000000002"]
    with pytest.raises(FacebookRequestError) as err:
        pixel.delete_shared_accounts(params={"account_id": "2000000001", "business": ACME})
    assert err.value.api_error_code() == 100
