//! Issue 13: bounded errors and validation before Graph, over the wire, for
//! every RPC of every service: malformed protobuf is INVALID_ARGUMENT (not
//! INTERNAL), a request_id over 128 bytes is refused on every service, lists
//! of 10,000 invalid enum items come back as INVALID_ARGUMENT with at most
//! 21 violations and a trailer under 8 KiB that a client with a 16 KiB
//! header limit reads, and CreateAdAccount / RenameBusinessAssetGroup values
//! Graph would refuse never reach it.

use std::sync::Arc;

use bytes::{Buf as _, BufMut as _};
use graph_gateway::config::Config;
use graph_gateway::vault::MemoryVault;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MethodDescriptor, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::{token, Recorder, TestGateway};

/// Sends bytes as they are: the request need not be a valid message.
#[derive(Default)]
struct Raw;
struct RawEncoder;
struct RawDecoder;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let v = buf.chunk().to_vec();
        buf.advance(v.len());
        Ok(Some(v))
    }
}

/// Every RPC of every gateway service (health and reflection aside).
pub fn methods() -> Vec<MethodDescriptor> {
    let pool = DescriptorPool::decode(graph_gateway::proto::FILE_DESCRIPTOR_SET).unwrap();
    pool.services()
        .filter(|s| s.package_name() == "graphgateway.v1")
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect()
}

/// A channel as grpcio's default sees the server: at most 16 KiB of
/// headers (trailers included).
async fn small_header_channel(gw: &TestGateway) -> Channel {
    Channel::from_shared(format!("http://{}", gw.addr))
        .unwrap()
        .http2_max_header_list_size(16 * 1024)
        .connect()
        .await
        .unwrap()
}

async fn call(channel: &Channel, m: &MethodDescriptor, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path: http::uri::PathAndQuery = format!("/{}/{}", m.parent_service().full_name(), m.name())
        .parse()
        .unwrap();
    match grpc.unary(tonic::Request::new(body), path, Raw).await {
        Ok(_) => tonic::Status::ok(""),
        Err(st) => st,
    }
}

/// What every refusal of a bad request must be: INVALID_ARGUMENT with field
/// violations, at most 21 of them, each quoted value at most 64 characters,
/// the details trailer under 8 KiB.
fn assert_bounded_invalid(m: &MethodDescriptor, st: &tonic::Status) -> usize {
    assert_eq!(
        st.code(),
        Code::InvalidArgument,
        "{}: {st:?}",
        m.full_name()
    );
    let d = st.get_error_details();
    let v = &d
        .bad_request()
        .unwrap_or_else(|| panic!("{}: no BadRequest in {st:?}", m.full_name()))
        .field_violations;
    assert!(
        !v.is_empty() && v.len() <= 21,
        "{}: {}",
        m.full_name(),
        v.len()
    );
    for f in v {
        for (i, q) in f.description.split('"').enumerate() {
            if i % 2 == 1 {
                assert!(q.chars().count() <= 65, "{}: {q}", m.full_name());
            }
        }
    }
    assert!(
        st.details().len() < 8 * 1024,
        "{}: {} bytes",
        m.full_name(),
        st.details().len()
    );
    st.details().len()
}

async fn gateway() -> (TestGateway, Recorder) {
    let rec = Recorder::start(vec![(200, vec![], r#"{"id":"1","success":true}"#.into())]).await;
    let vault = Arc::new(MemoryVault::new(vec![token(
        "acme",
        "1000000001",
        "tok-limits",
    )]));
    let gw = TestGateway::upstream(&rec.url, vault, Config::default()).await;
    (gw, rec)
}

#[tokio::test]
async fn malformed_protobuf_is_invalid_argument_on_every_rpc() {
    let (gw, rec) = gateway().await;
    let channel = small_header_channel(&gw).await;
    let bad: [&[u8]; 3] = [
        // Field 1, length-delimited, length beyond the message.
        &[0x0a, 0x7f, 0x31],
        // A truncated varint.
        &[0x08, 0xff, 0xff],
        // Wire type 7 does not exist.
        &[0x0f, 0x01],
    ];
    let mut n = 0;
    for m in methods() {
        for b in bad {
            let st = call(&channel, &m, b.to_vec()).await;
            assert_bounded_invalid(&m, &st);
            n += 1;
        }
    }
    assert!(rec.requests().is_empty());
    println!("FIGURE malformed: {n} malformed requests, all INVALID_ARGUMENT, 0 upstream calls");
}

#[tokio::test]
async fn a_long_request_id_is_refused_on_every_service() {
    let (gw, rec) = gateway().await;
    let channel = small_header_channel(&gw).await;
    let mut services = std::collections::BTreeSet::new();
    for m in methods() {
        let Some(f) = m.input().get_field_by_name("request_id") else {
            continue;
        };
        let mut msg = DynamicMessage::new(m.input());
        msg.set_field(&f, Value::String("r".repeat(129)));
        let st = call(&channel, &m, msg.encode_to_vec()).await;
        assert_bounded_invalid(&m, &st);
        let v = st
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .clone();
        assert!(
            v.iter().any(|v| v.field == "request_id"),
            "{}: {v:?}",
            m.full_name()
        );
        services.insert(m.parent_service().name().to_string());
    }
    for s in ["WorkflowService", "VaultService", "AdAccountService"] {
        assert!(services.contains(s), "{s} has RPCs with a request_id");
    }
    assert!(rec.requests().is_empty());
}

#[tokio::test]
async fn ten_thousand_invalid_enum_items_come_back_readable() {
    let (gw, rec) = gateway().await;
    let channel = small_header_channel(&gw).await;
    let (mut rpcs, mut largest) = (0, 0);
    for m in methods() {
        let lists: Vec<_> = m
            .input()
            .fields()
            .filter(|f| f.is_list() && matches!(f.kind(), Kind::Enum(_)))
            .collect();
        if lists.is_empty() {
            continue;
        }
        for items in [10_000usize, 99] {
            let mut msg = DynamicMessage::new(m.input());
            for f in &lists {
                msg.set_field(f, Value::List(vec![Value::EnumNumber(0); items]));
            }
            let body = msg.encode_to_vec();
            let st = call(&channel, &m, body).await;
            largest = largest.max(assert_bounded_invalid(&m, &st));
        }
        rpcs += 1;
    }
    assert!(rpcs > 10, "{rpcs}");
    assert!(rec.requests().is_empty());
    println!(
        "FIGURE enum-lists: {rpcs} RPCs with 10,000 and 99 UNSPECIFIED items per list: all INVALID_ARGUMENT, largest details trailer {largest} bytes, 0 upstream calls"
    );
}

#[tokio::test]
async fn values_graph_would_refuse_never_reach_it() {
    use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
    use graph_gateway::proto::business_asset_group_service_client::BusinessAssetGroupServiceClient;
    use graph_gateway::proto::{CreateAdAccountRequest, RenameBusinessAssetGroupRequest};
    let (gw, rec) = gateway().await;
    let mut c = AdAccountServiceClient::new(gw.channel().await);
    let valid = CreateAdAccountRequest {
        business_id: "1000000001".into(),
        name: "Spring".into(),
        currency: "USD".into(),
        timezone_id: 1,
        end_advertiser: "NONE".into(),
        media_agency: "NONE".into(),
        partner: "NONE".into(),
        ..Default::default()
    };
    let cases: Vec<(CreateAdAccountRequest, &str)> = vec![
        (
            CreateAdAccountRequest {
                currency: "usd".into(),
                ..valid.clone()
            },
            "currency",
        ),
        (
            CreateAdAccountRequest {
                currency: "ABC".into(),
                ..valid.clone()
            },
            "currency",
        ),
        (
            CreateAdAccountRequest {
                currency: "USDX".into(),
                ..valid.clone()
            },
            "currency",
        ),
        (
            CreateAdAccountRequest {
                timezone_id: 593,
                ..valid.clone()
            },
            "timezone_id",
        ),
        (
            CreateAdAccountRequest {
                timezone_id: -1,
                ..valid.clone()
            },
            "timezone_id",
        ),
        (
            CreateAdAccountRequest {
                name: "n".repeat(101),
                ..valid.clone()
            },
            "name",
        ),
        (
            CreateAdAccountRequest {
                po_number: "p".repeat(1001),
                ..valid.clone()
            },
            "po_number",
        ),
        (
            CreateAdAccountRequest {
                invoicing_emails: vec!["a@example.com".into(); 11],
                ..valid.clone()
            },
            "invoicing_emails",
        ),
    ];
    for (req, field) in cases {
        let st = c.create_ad_account(req).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{field}: {st:?}");
        let v = st
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .clone();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].field, field, "{v:?}");
    }
    let mut g = BusinessAssetGroupServiceClient::new(gw.channel().await);
    let st = g
        .rename_business_asset_group(RenameBusinessAssetGroupRequest {
            asset_group_id: "55".into(),
            name: "é".repeat(101),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(rec.requests().is_empty(), "no Graph call");
    // The limits let real values through: 100 characters, a currency Meta's
    // spec lists, Meta's largest timezone id.
    let ok = CreateAdAccountRequest {
        name: "n".repeat(100),
        currency: "VND".into(),
        timezone_id: 592,
        ..valid
    };
    c.create_ad_account(ok).await.unwrap();
    assert!(!rec.requests().is_empty());
}
