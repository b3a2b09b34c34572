//! PixelService: PX01–PX02.

use graph_gateway::proto::pixel_service_client::PixelServiceClient as Client;
use graph_gateway::proto::*;

use super::*;

rpc!(fn owned(business_id: &str) -> Vec<Pixel> = list_owned_pixels(ListOwnedPixelsRequest).pixels);
rpc!(fn client_pixels(business_id: &str) -> ListClientPixelsResponse
    = list_client_pixels(ListClientPixelsRequest));

id_and!(pixel -> Pixel { name });

#[tokio::test]
async fn px01_lists_owned_pixels() {
    let (_gw, mut c) = start(Client::new).await;
    assert_eq!(
        owned(&mut c, ACME).await,
        vec![pixel("5000000001", "Acme Website Pixel")]
    );
    assert_eq!(
        owned(&mut c, INITECH).await,
        vec![pixel("5000000002", "Initech Pixel")]
    );
    assert_eq!(
        owned(&mut c, GLOBEX).await,
        vec![pixel("5000000003", "Globex Pixel")]
    );
}

#[tokio::test]
async fn px02_lists_client_pixels() {
    let (gw, mut c) = start(Client::new).await;
    assert_eq!(
        client_pixels(&mut c, GLOBEX).await.unwrap().pixels,
        vec![pixel("5000000002", "Initech Pixel")]
    );
    assert!(client_pixels(&mut c, ACME).await.unwrap().pixels.is_empty());
    // A business id that is not digits never reaches Graph.
    let not_digits = client_pixels(&mut c, "globex");
    assert_refused_before_graph(&gw, not_digits, &["business_id"]).await;
}
