//! InstagramAccountService: IG01–IG08.

use graph_gateway::proto::instagram_account_service_client::InstagramAccountServiceClient as Client;
use graph_gateway::proto::*;
use tonic::transport::Channel;

use super::*;

fn client(ch: &Channel) -> Client<Channel> {
    Client::new(ch.clone())
}

fn ig(id: &str, username: &str) -> InstagramAccount {
    InstagramAccount {
        id: id.into(),
        username: username.into(),
    }
}

async fn owned(c: &mut Client<Channel>, business: &str) -> Vec<InstagramAccount> {
    c.list_owned_instagram_accounts(ListOwnedInstagramAccountsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .instagram_accounts
}

async fn all(c: &mut Client<Channel>, business: &str) -> Vec<InstagramAccount> {
    c.list_instagram_accounts(ListInstagramAccountsRequest {
        business_id: business.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .instagram_accounts
}

async fn agencies(c: &mut Client<Channel>, account: &str) -> Vec<InstagramAgency> {
    c.list_instagram_account_agencies(ListInstagramAccountAgenciesRequest {
        instagram_account_id: account.into(),
        business_id: ACME.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .agencies
}

async fn authorized(c: &mut Client<Channel>, account: &str) -> Vec<AdAccount> {
    c.list_instagram_authorized_ad_accounts(ListInstagramAuthorizedAdAccountsRequest {
        instagram_account_id: account.into(),
        business: ACME.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ad_accounts
}

#[tokio::test]
async fn ig01_lists_owned_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000003", "acme.outlet")
        ]
    );
    assert_eq!(
        owned(&mut c, INITECH).await,
        vec![ig("6000000002", "initechnews")]
    );
    assert!(owned(&mut c, GLOBEX).await.is_empty());
}

#[tokio::test]
async fn ig02_lists_every_account_the_business_can_use() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    // Globex owns none but is a confirmed agency of two.
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000002", "initechnews")
        ]
    );
    assert_eq!(
        all(&mut c, ACME).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000003", "acme.outlet")
        ]
    );
}

#[tokio::test]
async fn ig03_lists_agencies() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(
        agencies(&mut c, "6000000001").await,
        vec![InstagramAgency {
            id: GLOBEX.into(),
            name: "Globex Agency".into(),
            permitted_tasks: vec!["ADVERTISE".into(), "ANALYZE".into()],
            access_status: AccessStatus::Confirmed as i32,
        }]
    );
    assert!(agencies(&mut c, "6000000003").await.is_empty());
}

#[tokio::test]
async fn ig04_adds_an_agency_visible_in_ig03_and_the_agencys_ig02() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert!(agencies(&mut c, "6000000003").await.is_empty());
    assert_eq!(all(&mut c, GLOBEX).await.len(), 2);

    let ok = c
        .add_instagram_account_agency(AddInstagramAccountAgencyRequest {
            instagram_account_id: "6000000003".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            permitted_tasks: vec!["ADVERTISE".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, "/v25.0/6000000003/agencies");
    assert_eq!(sent.form_param("business"), Some(GLOBEX));
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sandbox-token-acme-admin")
    );

    let list = agencies(&mut c, "6000000003").await;
    assert_eq!(ids(&list, |a| &a.id), vec![GLOBEX]);
    assert_eq!(list[0].permitted_tasks, vec!["ADVERTISE"]);
    assert_eq!(list[0].access_status(), AccessStatus::Confirmed);
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![
            ig("6000000001", "acmeretail"),
            ig("6000000002", "initechnews"),
            ig("6000000003", "acme.outlet")
        ]
    );
}

#[tokio::test]
async fn ig05_removes_an_agency_visible_in_ig03_and_the_agencys_ig02() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(agencies(&mut c, "6000000001").await.len(), 1);
    assert_eq!(all(&mut c, GLOBEX).await.len(), 2);

    let ok = c
        .remove_instagram_account_agency(RemoveInstagramAccountAgencyRequest {
            instagram_account_id: "6000000001".into(),
            business_id: ACME.into(),
            agency_business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert!(agencies(&mut c, "6000000001").await.is_empty());
    assert_eq!(
        all(&mut c, GLOBEX).await,
        vec![ig("6000000002", "initechnews")]
    );

    // Initech is no agency of it.
    let st = c
        .remove_instagram_account_agency(RemoveInstagramAccountAgencyRequest {
            instagram_account_id: "6000000001".into(),
            business_id: ACME.into(),
            agency_business_id: INITECH.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}

#[tokio::test]
async fn ig06_removes_an_account_from_the_business() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(owned(&mut c, ACME).await.len(), 2);
    let ok = c
        .remove_instagram_account(RemoveInstagramAccountRequest {
            business_id: ACME.into(),
            instagram_account_id: "6000000003".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.query_param("instagram_account"), Some("6000000003"));
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![ig("6000000001", "acmeretail")]
    );
    assert_eq!(
        all(&mut c, ACME).await,
        vec![ig("6000000001", "acmeretail")]
    );
}

#[tokio::test]
async fn ig07_lists_authorized_ad_accounts() {
    let (_gw, ch) = start().await;
    let mut c = client(&ch);
    let list = authorized(&mut c, "6000000001").await;
    assert_eq!(ids(&list, |a| &a.id), vec!["act_2000000001"]);
    assert_eq!(list[0].account_id, "2000000001");
    assert_eq!(list[0].name, "Acme US Prospecting");
    assert_eq!(list[0].currency, "USD");
    assert!(authorized(&mut c, "6000000003").await.is_empty());
}

#[tokio::test]
async fn ig08_authorizes_an_ad_account_visible_in_ig07() {
    let (gw, ch) = start().await;
    let mut c = client(&ch);
    assert_eq!(authorized(&mut c, "6000000001").await.len(), 1);
    let ok = c
        .authorize_instagram_ad_account(AuthorizeInstagramAdAccountRequest {
            instagram_account_id: "6000000001".into(),
            business: ACME.into(),
            ad_account_id: "2000000002".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.success);
    assert_eq!(
        gw.sb().last_request().unwrap().form_param("account_id"),
        Some("act_2000000002")
    );
    let list = authorized(&mut c, "6000000001").await;
    assert_eq!(
        ids(&list, |a| &a.id),
        vec!["act_2000000001", "act_2000000002"]
    );

    // Acme has no access to Initech's ad account.
    let st = c
        .authorize_instagram_ad_account(AuthorizeInstagramAdAccountRequest {
            instagram_account_id: "6000000001".into(),
            business: ACME.into(),
            ad_account_id: "act_2000000006".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_rule(&st, subcode::NOT_IN_BUSINESS);
}
