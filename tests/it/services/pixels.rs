//! PixelService: PX01–PX02, and PX03–PX04 beyond the catalogue.

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

// ---------------------------------------------------------------------------
// PX03, PX04 (beyond the catalogue: issue 16)

rpc!(fn pixel_agencies(pixel_id: &str, business_id: &str) -> Vec<AgencyBusiness>
    = list_pixel_agencies(ListPixelAgenciesRequest).agencies);
rpc!(fn remove_agency(pixel_id: &str, business_id: &str, agency_business_id: &str)
    -> MutationResult
    = remove_pixel_agency(RemovePixelAgencyRequest));

#[tokio::test]
async fn px03_lists_agencies_and_px04_removes_one_and_the_cached_lists_follow() {
    let (gw, mut c) = start(Client::new).await;
    // Globex is the demo agency of Initech's pixel (cached from here on).
    let before = pixel_agencies(&mut c, "5000000002", INITECH).await;
    assert_eq!(ids(&before, |a| &a.id), vec![GLOBEX]);
    assert!(!before[0].name.is_empty());
    assert_eq!(client_pixels(&mut c, GLOBEX).await.unwrap().pixels.len(), 1);

    assert!(
        remove_agency(&mut c, "5000000002", INITECH, GLOBEX)
            .await
            .unwrap()
            .success
    );
    let sent = last_sent(&gw);
    assert_eq!(sent.method, "DELETE");
    assert_eq!(sent.path, "/v26.0/5000000002/agencies");
    assert_eq!(sent.param("business"), Some(GLOBEX));
    // Both cached lists follow at once.
    assert!(pixel_agencies(&mut c, "5000000002", INITECH)
        .await
        .is_empty());
    assert!(client_pixels(&mut c, GLOBEX)
        .await
        .unwrap()
        .pixels
        .is_empty());

    // Removing it again: Graph's error (it is no agency now), mapped.
    let st = remove_agency(&mut c, "5000000002", INITECH, GLOBEX)
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument, "{st:?}");
}

#[tokio::test]
async fn px04_invalid_requests_never_reach_graph() {
    let (gw, mut c) = start(Client::new).await;
    let bad = remove_agency(&mut c, "5000000002", INITECH, "");
    assert_refused_before_graph(&gw, bad, &["agency_business_id"]).await;
    let bad = remove_agency(&mut c, "px", INITECH, "g");
    assert_refused_before_graph(&gw, bad, &["pixel_id", "agency_business_id"]).await;
}
