//! IdentityService: ME01.

use graph_gateway::proto::identity_service_client::IdentityServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn get_me(business_id: &str) -> Me = get_me(GetMeRequest));

#[tokio::test]
async fn me01_returns_the_admin_system_user_of_the_business() {
    let (gw, mut c) = start(Client::new).await;
    for (business, id, name, token) in [
        (ACME, "10101", "Acme", "acme"),
        (GLOBEX, "10201", "Globex", "globex"),
        (INITECH, "10301", "Initech", "initech"),
    ] {
        let me = get_me(&mut c, business).await.unwrap();
        let name = format!("{name} Admin System User");
        assert_eq!(
            me,
            Me {
                id: id.into(),
                name
            },
            "{business}"
        );
        let sent = last_sent(&gw);
        assert_eq!(sent.path, "/v26.0/me", "{business}");
        let bearer = format!("Bearer sandbox-token-{token}-admin");
        assert_eq!(
            sent.header("authorization"),
            Some(bearer.as_str()),
            "{business}"
        );
    }

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
