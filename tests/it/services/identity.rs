//! IdentityService: ME01.

use graph_gateway::proto::identity_service_client::IdentityServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

#[tokio::test]
async fn me01_returns_the_admin_system_user_of_the_business() {
    let (gw, ch) = start().await;
    let mut c = Client::new(ch);
    let me = c
        .get_me(GetMeRequest {
            business_id: ACME.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me,
        Me {
            id: "10101".into(),
            name: "Acme Admin System User".into()
        }
    );
    let sent = gw.sb().last_request().unwrap();
    assert_eq!(sent.path, "/v25.0/me");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sandbox-token-acme-admin")
    );

    let me = c
        .get_me(GetMeRequest {
            business_id: GLOBEX.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me,
        Me {
            id: "10201".into(),
            name: "Globex Admin System User".into()
        }
    );
    let me = c
        .get_me(GetMeRequest {
            business_id: INITECH.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me,
        Me {
            id: "10301".into(),
            name: "Initech Admin System User".into()
        }
    );

    // A read mask narrows the fields (id is always kept).
    let me = c
        .get_me(GetMeRequest {
            business_id: ACME.into(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["id".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me,
        Me {
            id: "10101".into(),
            name: String::new()
        }
    );
}
