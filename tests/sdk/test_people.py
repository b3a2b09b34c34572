"""BU01–BU06 (business users and invitations) and SU01–SU05 (system users,
their assets and access tokens), beyond the catalogue (issue 16), through
Business, BusinessUser, SystemUser and User."""

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.businessrolerequest import BusinessRoleRequest
from facebook_business.adobjects.businessuser import BusinessUser
from facebook_business.adobjects.page import Page
from facebook_business.adobjects.systemuser import SystemUser
from facebook_business.adobjects.user import User
from facebook_business.exceptions import FacebookRequestError

from conftest import ACME, ids, read_all

ops = pytest.mark.ops

ALICE = "10001"
BOB = "10002"
CAROL = "10003"


@ops("BU01")
def test_bu01_business_users_with_roles_through_a_cursor(apis):
    api = apis["acme"]
    items, requests = read_all(
        api,
        lambda: Business(ACME, api=api).get_business_users(
            fields=["id", "name", "role", "business"], params={"limit": 1}
        ),
    )
    assert ids(items) == [ALICE, BOB, CAROL]
    assert requests == 3
    assert isinstance(items[0], BusinessUser)
    assert items[0]["role"] == "ADMIN"
    assert items[0]["business"]["id"] == ACME
    # Someone outside the business is refused.
    with pytest.raises(FacebookRequestError) as err:
        Business(ACME, api=apis["erin"]).get_business_users()
    assert err.value.api_error_code() == 200


@ops("BU02", "BU05")
def test_bu02_invite_and_bu05_pending_users(apis):
    api = apis["acme"]
    business = Business(ACME, api=api)
    res = business.create_business_user(params={"email": "sdk.hire@example.com", "role": "FINANCE_VIEW"})
    invitation = res["id"]
    pending = list(business.get_pending_users(
        fields=["id", "email", "role", "status", "owner", "expiration_time"]
    ))
    assert invitation in ids(pending)
    p = next(p for p in pending if p["id"] == invitation)
    assert isinstance(p, BusinessRoleRequest)
    assert (p["email"], p["role"], p["status"]) == ("sdk.hire@example.com", "FINANCE_VIEW", "PENDING")
    assert p["owner"]["id"] == ACME
    assert ids(business.get_pending_users(params={"email": "sdk.hire@example.com"})) == [invitation]
    assert ids(business.get_pending_users(params={"email": "nobody@example.com"})) == []
    # Once per email; roles are Meta's enum; employees cannot invite.
    with pytest.raises(FacebookRequestError) as err:
        business.create_business_user(params={"email": "sdk.hire@example.com"})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        api.call("POST", (ACME, "business_users"), params={"email": "x@example.com", "role": "OWNER"})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        Business(ACME, api=apis["bob"]).create_business_user(params={"email": "y@example.com"})
    assert err.value.api_error_code() == 200


@ops("BU06")
def test_bu06_withdraw_an_invitation(apis):
    api = apis["acme"]
    business = Business(ACME, api=api)
    invitation = business.create_business_user(params={"email": "withdrawn@example.com"})["id"]
    assert invitation in ids(business.get_pending_users())
    with pytest.raises(FacebookRequestError) as err:
        BusinessRoleRequest(invitation, api=apis["globex"]).api_delete()
    assert err.value.api_error_code() == 200
    BusinessRoleRequest(invitation, api=api).api_delete()
    assert invitation not in ids(business.get_pending_users())
    with pytest.raises(FacebookRequestError) as err:
        BusinessRoleRequest(invitation, api=api).api_delete()
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 33)


@ops("BU03", "BU04")
def test_bu03_change_role_and_bu04_remove_keep_an_admin(apis):
    api = apis["acme"]
    business = Business(ACME, api=api)

    def roles():
        return {u["id"]: u["role"] for u in business.get_business_users(fields=["id", "role"])}

    # Alice is the only admin person: she can be neither demoted nor removed.
    with pytest.raises(FacebookRequestError) as err:
        BusinessUser(ALICE, api=api).api_update(params={"role": "EMPLOYEE"})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        BusinessUser(ALICE, api=api).api_delete()
    assert err.value.api_error_code() == 100
    BusinessUser(CAROL, api=api).api_update(params={"role": "ADMIN"})
    assert roles()[CAROL] == "ADMIN"
    BusinessUser(CAROL, api=api).api_update(params={"role": "EMPLOYEE"})
    assert roles()[CAROL] == "EMPLOYEE"
    # Another business's admin cannot touch Acme's people.
    with pytest.raises(FacebookRequestError) as err:
        BusinessUser(BOB, api=apis["globex"]).api_delete()
    assert err.value.api_error_code() == 200
    BusinessUser(BOB, api=api).api_delete()
    assert BOB not in roles()
    # Bob's tasks on Acme's ad accounts went with him.
    users = AdAccount("act_2000000002", api=api).get_assigned_users(params={"business": ACME})
    assert BOB not in ids(users)


@ops("SU01", "SU02", "SU03", "SU04")
def test_su01_su02_system_users_and_su03_su04_their_assets(apis):
    api = apis["acme"]
    business = Business(ACME, api=api)
    before = ids(business.get_system_users())
    assert before[:2] == ["10101", "10102"]
    res = business.create_system_user(params={"name": "SDK Bot", "role": "EMPLOYEE"})
    bot = res["id"]
    users = list(business.get_system_users(fields=["id", "name", "created_time"]))
    assert ids(users) == before + [bot]
    assert users[-1]["name"] == "SDK Bot" and users[-1]["created_time"]
    # Only admins create system users.
    with pytest.raises(FacebookRequestError) as err:
        Business(ACME, api=apis["acme_employee"]).create_system_user(params={"name": "x"})
    assert err.value.api_error_code() == 200
    system_user = SystemUser(bot, api=api)
    assert ids(system_user.get_assigned_ad_accounts()) == []
    AdAccount("act_2000000001", api=api).create_assigned_user(
        params={"user": bot, "tasks": ["ANALYZE"]}
    )
    accounts = list(system_user.get_assigned_ad_accounts(fields=["id", "name"]))
    assert ids(accounts) == ["act_2000000001"]
    assert isinstance(accounts[0], AdAccount)
    Page("3000000001", api=api).create_assigned_user(
        params={"user": bot, "tasks": ["ANALYZE"]}
    )
    pages = list(system_user.get_assigned_pages(fields=["id", "name"]))
    assert ids(pages) == ["3000000001"]
    assert ids(system_user.get_assigned_pages(params={"pages": ["3000000002"]})) == []
    assert isinstance(pages[0], Page)
    # Another business cannot see Acme's system user's assets.
    with pytest.raises(FacebookRequestError) as err:
        SystemUser(bot, api=apis["globex"]).get_assigned_pages()
    assert err.value.api_error_code() == 200


@ops("SU05")
def test_su05_system_user_access_token_works_and_only_for_system_users(apis):
    api = apis["acme"]
    res = User("10102", api=api).create_access_token(
        params={"business_app": "4000000001", "scope": ["ads_management", "business_management"]}
    )
    token = res["access_token"]
    assert token
    # The new token is the system user's.
    me = User("me", api=apis.token(token)).api_get(fields=["id", "name"])
    assert me["id"] == "10102"
    # A person gets none this way; the app must be the business's; only
    # admins of the system user's business may ask.
    with pytest.raises(FacebookRequestError) as err:
        User(BOB, api=api).create_access_token(params={"business_app": "4000000001", "scope": ["ads_management"]})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        User("10102", api=api).create_access_token(params={"business_app": "4000000003", "scope": ["ads_management"]})
    assert err.value.api_error_code() == 100
    with pytest.raises(FacebookRequestError) as err:
        User("10102", api=apis["globex"]).create_access_token(
            params={"business_app": "4000000001", "scope": ["ads_management"]}
        )
    assert err.value.api_error_code() == 200
