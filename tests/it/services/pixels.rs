//! PixelService: PX01–PX02.

use graph_gateway::proto::pixel_service_client::PixelServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

#[tokio::test]
async fn px01_lists_owned_pixels() {
    let (_gw, ch) = start().await;
    let mut c = Client::new(ch);
    let list = |b: &str| ListOwnedPixelsRequest {
        business_id: b.into(),
        ..Default::default()
    };
    let acme = c
        .list_owned_pixels(list(ACME))
        .await
        .unwrap()
        .into_inner()
        .pixels;
    assert_eq!(
        acme,
        vec![Pixel {
            id: "5000000001".into(),
            name: "Acme Website Pixel".into()
        }]
    );
    let initech = c
        .list_owned_pixels(list(INITECH))
        .await
        .unwrap()
        .into_inner()
        .pixels;
    assert_eq!(
        initech,
        vec![Pixel {
            id: "5000000002".into(),
            name: "Initech Pixel".into()
        }]
    );
    let globex = c
        .list_owned_pixels(list(GLOBEX))
        .await
        .unwrap()
        .into_inner()
        .pixels;
    assert_eq!(
        globex,
        vec![Pixel {
            id: "5000000003".into(),
            name: "Globex Pixel".into()
        }]
    );
}

#[tokio::test]
async fn px02_lists_client_pixels() {
    let (_gw, ch) = start().await;
    let mut c = Client::new(ch);
    let list = |b: &str| ListClientPixelsRequest {
        business_id: b.into(),
        ..Default::default()
    };
    let globex = c
        .list_client_pixels(list(GLOBEX))
        .await
        .unwrap()
        .into_inner()
        .pixels;
    assert_eq!(
        globex,
        vec![Pixel {
            id: "5000000002".into(),
            name: "Initech Pixel".into()
        }]
    );
    assert!(c
        .list_client_pixels(list(ACME))
        .await
        .unwrap()
        .into_inner()
        .pixels
        .is_empty());
    // A business id that is not digits never reaches Graph.
    let st = c.list_client_pixels(list("globex")).await.unwrap_err();
    assert_eq!(violations(&st), vec!["business_id"]);
}
