"""AG01–AG32: business asset groups, through BusinessAssetGroup, Business
and BusinessUser (AG04, AG24–AG26 through api.call: gone from the spec)."""

import pytest
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessassetgroup import BusinessAssetGroup
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.exceptions import FacebookRequestError

from conftest import ACME, ids, read_all

ops = pytest.mark.ops


@ops("AG01")
def test_ag01_business_asset_groups_pages_through_a_cursor(apis):
    api = apis["acme"]
    items, requests = read_all(
        api,
        lambda: Business(ACME, api=api).get_business_asset_groups(
            fields=["id", "name"], params={"limit": 1}
        ),
    )
    assert ids(items) == ["9000000001", "9000000002"]
    assert requests == 2
    assert items[0]["name"] == "Acme Brand Team"
    assert isinstance(items[0], BusinessAssetGroup)


@ops("AG02")
def test_ag02_read_group_and_unknown_node(apis):
    api = apis["acme"]
    group = BusinessAssetGroup("9000000001", api=api).api_get(fields=["id", "name"])
    assert group["name"] == "Acme Brand Team"
    with pytest.raises(FacebookRequestError) as err:
        BusinessAssetGroup("9999999999", api=api).api_get(fields=["id"])
    assert err.value.api_error_code() == 100
    assert err.value.api_error_subcode() == 33
    assert err.value.http_status() == 400


@ops("AG03")
def test_ag03_rename_and_permission_error(apis):
    api = apis["acme"]
    BusinessAssetGroup("9000000002", api=api).api_update(params={"name": "Acme West"})
    group = BusinessAssetGroup("9000000002", api=api).api_get(fields=["name"])
    assert group["name"] == "Acme West"
    employee = apis["acme_employee"]
    with pytest.raises(FacebookRequestError) as err:
        BusinessAssetGroup("9000000002", api=employee).api_update(params={"name": "x"})
    assert 200 <= err.value.api_error_code() < 300
    assert err.value.http_status() == 403
    assert BusinessAssetGroup("9000000002", api=api).api_get(fields=["name"])["name"] == "Acme West"


@ops("AG05")
def test_ag05_user_groups_filtered_by_contained_asset(apis):
    api = apis["acme"]
    user = BusinessUser("10003", api=api)
    items, _ = read_all(api, lambda: user.get_assigned_business_asset_groups(params={"limit": 1}))
    assert ids(items) == ["9000000001"]
    items, _ = read_all(
        api,
        lambda: user.get_assigned_business_asset_groups(
            params={"contained_asset_id": "5000000001", "limit": 1}
        ),
    )
    assert ids(items) == ["9000000001"]
    items, _ = read_all(
        api,
        lambda: user.get_assigned_business_asset_groups(
            params={"contained_asset_id": "3000000002", "limit": 1}
        ),
    )
    assert items == []


@ops("AG06", "AG07", "AG08")
def test_ag06_ag07_ag08_assign_tasks_read_and_remove(apis):
    api = apis["acme"]
    group = BusinessAssetGroup("9000000002", api=api)
    users, _ = read_all(
        api, lambda: group.get_assigned_users(fields=["id", "name"], params={"business": ACME, "limit": 1})
    )
    assert users == []
    group.create_assigned_user(
        params={"user": 10002, "adaccount_tasks": ["ANALYZE", "DRAFT"], "page_tasks": ["ANALYZE"]}
    )
    users, _ = read_all(
        api,
        lambda: group.get_assigned_users(
            fields=["id", "name", "user_type"], params={"business": ACME, "limit": 1}
        ),
    )
    assert [(u["id"], u["name"], u["user_type"]) for u in users] == [("10002", "Bob Employee", "BUSINESS_USER")]
    # The tasks apply: Bob's permission on act_2000000001 now comes from
    # the group, so the asset-level change is refused.
    with pytest.raises(FacebookRequestError) as err:
        AdAccount("act_2000000001", api=api).delete_assigned_users(params={"user": 10002})
    assert err.value.api_error_code() == 100
    assert err.value.api_error_subcode() == 1690002
    # The seed's parameter names are refused, as by Graph.
    with pytest.raises(FacebookRequestError) as err:
        api.call(
            "POST",
            ("9000000002", "assigned_users"),
            params={"user": "10002", "business": ACME, "adaccount_roles": ["ANALYZE"]},
        )
    assert err.value.api_error_code() == 100
    assert "is not a valid parameter" in err.value.api_error_message()
    group.delete_assigned_users(params={"user": 10002})
    users, _ = read_all(api, lambda: group.get_assigned_users(params={"business": ACME, "limit": 1}))
    assert users == []
    AdAccount("act_2000000001", api=api).delete_assigned_users(params={"user": 10002})


CONTAINED = [
    # ops (GET, POST, DELETE), getter, creator, deleter, in 9000000001, asset to add to 9000000002
    (("AG09", "AG10", "AG11"), "pages", "page", ["3000000001"], "3000000002"),
    (("AG12", "AG13", "AG14"), "ad_accounts", "ad_account", ["act_2000000002"], "act_2000000002"),
    (("AG15", "AG16", "AG17"), "product_catalogs", "product_catalog", ["7000000001"], "7000000001"),
    (("AG18", "AG19", "AG20"), "instagram_accounts", "instagram_account", ["6000000001"], "6000000003"),
    (("AG21", "AG22", "AG23"), "pixels", "pixel", ["5000000001"], "5000000001"),
    (("AG27", "AG28", "AG29"), "applications", "application", ["4000000001"], "4000000001"),
    (("AG30", "AG31", "AG32"), "custom_conversions", "custom_conversion", ["8100000001"], "8100000001"),
]


def _contained_case(apis, plural, singular, in_brand_team, to_add):
    api = apis["acme"]
    brand = BusinessAssetGroup("9000000001", api=api)
    regional = BusinessAssetGroup("9000000002", api=api)
    getter = lambda g: (lambda: getattr(g, f"get_contained_{plural}")(params={"limit": 1}))
    items, _ = read_all(api, getter(brand))
    assert ids(items) == in_brand_team
    before, _ = read_all(api, getter(regional))
    getattr(regional, f"create_contained_{singular}")(params={"asset_id": to_add})
    after, requests = read_all(api, getter(regional))
    assert to_add in ids(after) and to_add not in ids(before)
    assert requests == len(after) >= 1
    getattr(regional, f"delete_contained_{plural}")(params={"asset_id": to_add})
    final, _ = read_all(api, getter(regional))
    assert ids(final) == ids(before)


@ops("AG09", "AG10", "AG11")
def test_ag09_ag10_ag11_contained_pages(apis):
    _contained_case(apis, *CONTAINED[0][1:])


@ops("AG12", "AG13", "AG14")
def test_ag12_ag13_ag14_contained_ad_accounts(apis):
    _contained_case(apis, *CONTAINED[1][1:])
    # Ad accounts come as act_N with account_id.
    api = apis["acme"]
    items = list(BusinessAssetGroup("9000000002", api=api).get_contained_ad_accounts(fields=["id", "account_id"]))
    assert [(a["id"], a["account_id"]) for a in items] == [("act_2000000001", "2000000001")]


@ops("AG15", "AG16", "AG17")
def test_ag15_ag16_ag17_contained_catalogs(apis):
    _contained_case(apis, *CONTAINED[2][1:])


@ops("AG18", "AG19", "AG20")
def test_ag18_ag19_ag20_contained_instagram_accounts(apis):
    _contained_case(apis, *CONTAINED[3][1:])


@ops("AG21", "AG22", "AG23")
def test_ag21_ag22_ag23_contained_pixels(apis):
    _contained_case(apis, *CONTAINED[4][1:])


@ops("AG27", "AG28", "AG29")
def test_ag27_ag28_ag29_contained_applications(apis):
    _contained_case(apis, *CONTAINED[5][1:])


@ops("AG30", "AG31", "AG32")
def test_ag30_ag31_ag32_contained_custom_conversions(apis):
    _contained_case(apis, *CONTAINED[6][1:])


@ops("AG24", "AG25", "AG26", via="call")
def test_ag24_ag25_ag26_offline_sets_through_api_call(apis):
    api = apis["acme"]
    path = ("9000000002", "contained_offline_conversion_data_sets")
    assert api.call("GET", path).json() == {"data": []}
    r = api.call("POST", path, params={"asset_id": "8000000001"})
    assert r.json() == {"success": True}
    assert [x["id"] for x in api.call("GET", path).json()["data"]] == ["8000000001"]
    r = api.call("DELETE", path, params={"asset_id": "8000000001"})
    assert r.json() == {"success": True}
    assert api.call("GET", path).json() == {"data": []}


@ops("AG04", via="call")
def test_ag04_delete_group_through_api_call(apis):
    api = apis["acme"]
    assert api.call("DELETE", ("9000000002",)).json() == {"success": True}
    with pytest.raises(FacebookRequestError) as err:
        BusinessAssetGroup("9000000002", api=api).api_get(fields=["id"])
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 33)
    items = list(Business(ACME, api=api).get_business_asset_groups())
    assert ids(items) == ["9000000001"]
