//! Compiles proto/ with tonic-prost-build, writes the descriptor set used for
//! reflection and for the engine's route table, and generates the thin tonic
//! adapters: every RPC with a `(graphgateway.v1.graph)` option delegates to the
//! generic engine, every RPC with a `(graphgateway.v1.workflow)` option to the
//! hand-written workflow of the same name, and every other RPC (served by the
//! gateway itself, e.g. quota introspection) to `crate::grpc::local`. No
//! per-RPC glue is written by hand. Each generated server is wrapped in
//! `crate::grpc::raw::Passthrough`, which serves the Graph-route methods on
//! bytes (the typed Graph-route handlers stay for in-process callers).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PACKAGE: &str = "graphgateway.v1";
const GRAPH_EXT: &str = "graphgateway.v1.graph";
const WORKFLOW_EXT: &str = "graphgateway.v1.workflow";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // Build scripts are single-threaded; this only tells prost-build
        // where the vendored protoc is.
        std::env::set_var("PROTOC", protoc);
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("graphgateway_descriptor.bin");

    let proto_dir = Path::new("proto");
    let mut protos: Vec<PathBuf> = std::fs::read_dir(proto_dir.join("graphgateway/v1"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    protos.sort();
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }

    let mut includes = vec![proto_dir.to_path_buf()];
    if let Ok(inc) = protoc_bin_vendored::include_path() {
        includes.push(inc);
    }

    // google.longrunning (vendored, with google.rpc.Status) for bulk
    // operations: generated on its own, then named by path from ours.
    let google = [proto_dir.join("google/longrunning/operations.proto")];
    println!("cargo:rerun-if-changed=proto/google");
    let google_out = out_dir.join("google");
    std::fs::create_dir_all(&google_out)?;
    tonic_prost_build::configure()
        .out_dir(&google_out)
        .build_client(true)
        .build_server(true)
        .codec_path("crate::proto::codec::GatewayCodec")
        .compile_protos(&google, &includes)?;

    tonic_prost_build::configure()
        .extern_path(".google.longrunning", "crate::proto::google::longrunning")
        .extern_path(".google.rpc", "crate::proto::google::rpc")
        .file_descriptor_set_path(&descriptor_path)
        .build_client(true)
        .build_server(true)
        // prost's codec, but a malformed request is INVALID_ARGUMENT
        // (src/proto/codec.rs).
        .codec_path("crate::proto::codec::GatewayCodec")
        // Carries a token value: its Debug is hand-written and redacts it
        // (src/grpc/vault.rs).
        .skip_debug([".graphgateway.v1.PutTokenRequest"])
        .compile_protos(&protos, &includes)?;

    let bytes = std::fs::read(&descriptor_path)?;
    let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice())?;
    let glue = generate_adapters(&pool);
    std::fs::write(out_dir.join("graphgateway_adapters.rs"), glue)?;
    std::fs::write(
        out_dir.join("graphgateway_services.rs"),
        service_names(&pool),
    )?;
    Ok(())
}

/// Which hand-off an RPC gets.
enum Kind {
    Graph,
    Workflow,
}

/// Reads the gateway's method options with prost-reflect (prost itself drops
/// extensions) and says which hand-off the RPC gets.
fn method_kind(method: &prost_reflect::MethodDescriptor) -> Option<Kind> {
    let opts = method.options();
    let pool = method.parent_pool();
    let has = |name: &str| {
        pool.get_extension_by_name(name)
            .is_some_and(|ext| opts.has_extension(&ext))
    };
    if has(GRAPH_EXT) {
        Some(Kind::Graph)
    } else if has(WORKFLOW_EXT) {
        Some(Kind::Workflow)
    } else {
        None
    }
}

/// `SERVICE_NAMES` (included by src/proto.rs, so the configuration can check
/// service names without the gRPC layer).
fn service_names(pool: &prost_reflect::DescriptorPool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// Full names of every gateway service, for health and docs."
    );
    let _ = writeln!(out, "pub const SERVICE_NAMES: &[&str] = &[");
    for svc in pool.services().filter(|s| s.package_name() == PACKAGE) {
        let _ = writeln!(out, "    \"{PACKAGE}.{}\",", svc.name());
    }
    let _ = writeln!(out, "];");
    out
}

fn generate_adapters(pool: &prost_reflect::DescriptorPool) -> String {
    let mut out = String::new();
    let mut services = Vec::new();
    for svc in pool.services() {
        if svc.package_name() != PACKAGE {
            continue;
        }
        let svc_name = svc.name();
        let module = format!("{}_server", snake_case(svc_name));
        services.push((svc_name.to_string(), module.clone()));
        let _ = writeln!(
            out,
            "#[tonic::async_trait]\nimpl crate::proto::{module}::{svc_name} for crate::grpc::GatewayService {{"
        );
        for m in svc.methods() {
            let full = format!("/{PACKAGE}.{svc_name}/{}", m.name());
            let input = rust_type(m.input().full_name());
            let output = rust_type(m.output().full_name());
            let fn_name = snake_case(m.name());
            // Hand-written RPCs get the engine's request_id limit here, so
            // every service enforces it (graph routes check it with their
            // other fields in src/routes/request.rs).
            let has_request_id = m
                .input()
                .get_field_by_name("request_id")
                .is_some_and(|f| f.kind() == prost_reflect::Kind::String && !f.is_list());
            let check = match method_kind(&m) {
                Some(Kind::Graph) => String::new(),
                _ if has_request_id => {
                    "crate::grpc::check_request_id(&request.get_ref().request_id)?;\n        "
                        .to_string()
                }
                _ => String::new(),
            };
            if m.is_server_streaming() {
                // Server streams: a hand-written handler in crate::grpc::streams,
                // and its stream type.
                let _ = writeln!(
                    out,
                    "    type {}Stream = crate::grpc::streams::Stream<{output}>;\n    async fn {fn_name}(&self, request: tonic::Request<{input}>) -> Result<tonic::Response<Self::{}Stream>, tonic::Status> {{\n        crate::grpc::streams::{fn_name}(self, request).await\n    }}",
                    m.name(),
                    m.name()
                );
                continue;
            }
            let body = match method_kind(&m) {
                Some(Kind::Graph) => format!("self.unary(\"{full}\", request).await"),
                Some(Kind::Workflow) => {
                    format!("crate::grpc::workflows::{fn_name}(self, request).await")
                }
                // Served by the gateway itself (e.g. quota introspection):
                // a hand-written handler of the same name must exist.
                None => format!("crate::grpc::local::{fn_name}(self, request).await"),
            };
            let _ = writeln!(
                out,
                "    async fn {fn_name}(&self, request: tonic::Request<{input}>) -> Result<tonic::Response<{output}>, tonic::Status> {{\n        {check}{body}\n    }}"
            );
        }
        let _ = writeln!(out, "}}\n");
    }
    let _ = writeln!(
        out,
        "/// Adds every gateway service to a tonic router.\npub fn add_services(mut routes: tonic::service::RoutesBuilder, svc: &crate::grpc::GatewayService) -> tonic::service::RoutesBuilder {{"
    );
    for (name, module) in &services {
        let _ = writeln!(
            out,
            "    routes.add_service(crate::grpc::raw::Passthrough::new(crate::proto::{module}::{name}Server::new(svc.clone()), svc.clone()));"
        );
    }
    let _ = writeln!(out, "    routes\n}}");
    out
}

fn rust_type(proto: &str) -> String {
    let name = proto.trim_start_matches('.');
    if let Some(rest) = name.strip_prefix("graphgateway.v1.") {
        return format!("crate::proto::{rest}");
    }
    if let Some(rest) = name.strip_prefix("google.longrunning.") {
        return format!("crate::proto::google::longrunning::{rest}");
    }
    if let Some(rest) = name.strip_prefix("google.protobuf.") {
        return format!("::prost_types::{rest}");
    }
    name.replace('.', "::")
}

/// tonic-build's method and module naming: a '_' before each inner capital.
fn snake_case(name: &str) -> String {
    let mut s = String::new();
    let mut it = name.chars().peekable();
    while let Some(x) = it.next() {
        s.push(x.to_ascii_lowercase());
        if let Some(y) = it.peek() {
            if y.is_uppercase() {
                s.push('_');
            }
        }
    }
    s
}
