"""WA01–WA05: WhatsApp Business accounts (owned, client) and their assigned
users (beyond the catalogue: issue 16)."""

import pytest
from facebook_business.adobjects.business import Business
from facebook_business.adobjects.whatsappbusinessaccount import WhatsAppBusinessAccount
from facebook_business.exceptions import FacebookRequestError

from conftest import ACME, GLOBEX, INITECH, ids, read_all

ops = pytest.mark.ops

SUPPORT = "8700000001"
MARKETING = "8700000002"
ALERTS = "8700000003"


def cursor_ids(api, make_cursor):
    items, requests = read_all(api, make_cursor)
    assert requests == max(len(items), 1), "limit=1 takes one request per item"
    return ids(items)


@ops("WA01", "WA02")
def test_wa01_wa02_owned_and_client_accounts(apis):
    api = apis["acme"]
    items, requests = read_all(
        api,
        lambda: Business(ACME, api=api).get_owned_whats_app_business_accounts(
            fields=["id", "name", "currency", "timezone_id", "owner_business"], params={"limit": 1}
        ),
    )
    assert requests == 2
    assert isinstance(items[0], WhatsAppBusinessAccount)
    assert [(i["id"], i["name"], i["currency"]) for i in items] == [
        (SUPPORT, "Acme Support", "USD"),
        (MARKETING, "Acme Marketing", "USD"),
    ]
    assert items[0]["owner_business"]["id"] == ACME
    initech = apis["initech"]
    assert ids(Business(INITECH, api=initech).get_owned_whats_app_business_accounts()) == [ALERTS]
    globex = apis["globex"]
    assert cursor_ids(
        globex, lambda: Business(GLOBEX, api=globex).get_client_whats_app_business_accounts(params={"limit": 1})
    ) == [SUPPORT, ALERTS]
    assert ids(Business(ACME, api=api).get_client_whats_app_business_accounts()) == []


@ops("WA03", "WA04", "WA05")
def test_wa03_to_wa05_assigned_users(apis):
    api = apis["acme"]
    waba = WhatsAppBusinessAccount(SUPPORT, api=api)
    read = lambda: cursor_ids(api, lambda: waba.get_assigned_users(params={"business": ACME, "limit": 1}))
    assert read() == ["10002"]
    waba.create_assigned_user(params={"user": 10003, "tasks": ["MANAGE_TEMPLATES", "VIEW_COST"]})
    assert read() == ["10002", "10003"]
    # Meta's spec requires tasks.
    with pytest.raises(FacebookRequestError) as err:
        waba.create_assigned_user(params={"user": 10003})
    assert err.value.api_error_code() == 100
    waba.delete_assigned_users(params={"user": 10003})
    assert read() == ["10002"]
    # An agency gives only the tasks it is permitted.
    globex = apis["globex"]
    with pytest.raises(FacebookRequestError) as err:
        WhatsAppBusinessAccount(SUPPORT, api=globex).create_assigned_user(params={"user": 10006, "tasks": ["MANAGE"]})
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 1690007)
