//! Reflection (v1 and v1alpha, as grpcurl asks for either), health with
//! liveness/readiness/service names, and secrets absent from the logs.

use graph_gateway::proto::identity_service_client::IdentityServiceClient;
use graph_gateway::proto::GetMeRequest;
use tokio_stream::StreamExt as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::harness::{logs, TestGateway};

#[tokio::test]
async fn reflection_v1_lists_every_service() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let gw = TestGateway::sandbox().await;
    let mut c = ServerReflectionClient::new(gw.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("{resp:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in graph_gateway::grpc::SERVICE_NAMES {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert!(names.iter().any(|n| n == "grpc.health.v1.Health"));
}

#[tokio::test]
async fn reflection_v1alpha_describes_a_service() {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;

    let gw = TestGateway::sandbox().await;
    let mut c = ServerReflectionClient::new(gw.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "graphgateway.v1.BusinessAssetGroupService".into(),
        )),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(fd)) = resp.message_response else {
        panic!("{resp:?}")
    };
    assert!(!fd.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn health_answers_liveness_readiness_and_services() {
    let gw = TestGateway::sandbox().await;
    let mut c = HealthClient::new(gw.channel().await);
    for service in [
        "liveness",
        "readiness",
        "",
        "graphgateway.v1.BusinessAssetGroupService",
    ] {
        let r = c
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service}");
    }
    let st = c
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn tokens_never_appear_in_logs() {
    let gw = TestGateway::sandbox().await;
    let mut c = IdentityServiceClient::new(gw.channel().await);
    // A success and a failure, both logged at trace level.
    let _ = c
        .get_me(GetMeRequest {
            business_id: "1000000001".into(),
            read_mask: None,
        })
        .await;
    let _ = c
        .get_me(GetMeRequest {
            business_id: "424242".into(),
            read_mask: None,
        })
        .await;
    let secrets: Vec<String> = gw
        .sb()
        .demo_tokens()
        .into_iter()
        .map(|t| t.secret.expose().to_string())
        .collect();
    assert!(!secrets.is_empty());
    let log = logs();
    assert!(log.contains("graph"), "logs were captured");
    for s in secrets {
        assert!(!log.contains(&s), "a token value appears in the logs");
    }
}
