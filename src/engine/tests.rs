use prost::Message as _;

use super::request::plan;
use super::routes::RouteTable;
use super::*;
use crate::proto;

fn table() -> RouteTable {
    RouteTable::embedded().unwrap()
}

fn planned<M: prost::Message>(t: &RouteTable, method: &str, m: &M) -> Result<Plan, GatewayError> {
    let route = t.get(method).unwrap().clone();
    let msg = request::to_dynamic(&route, m).unwrap();
    plan(t, &route, &msg)
}

fn param<'a>(p: &'a Plan, name: &str) -> Option<&'a str> {
    p.graph
        .params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn violations(e: GatewayError) -> Vec<String> {
    match e {
        GatewayError::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn every_catalogue_id_has_exactly_one_route() {
    let t = table();
    let mut ids: Vec<String> = t.iter().map(|r| r.operation_id.clone()).collect();
    ids.sort();
    let mut want = Vec::new();
    for (prefix, n) in [
        ("AG", 32),
        ("AA", 11),
        ("PG", 11),
        ("AP", 6),
        ("PX", 2),
        ("IG", 8),
        ("CT", 7),
        ("ME", 1),
        ("BB", 11),
        ("OB", 6),
        ("AS", 4),
    ] {
        want.extend((1..=n).map(|i| format!("{prefix}{i:02}")));
    }
    // Beyond the catalogue (issue 16): the rest of custom audience sharing,
    // catalog and pixel agencies.
    want.extend(["AS05", "AS06", "CT08", "CT09", "PX03", "PX04"].map(String::from));
    // Pixels' assigned users and shared ad accounts, and a pixel's agency
    // grant (PX10).
    want.extend(["PX05", "PX06", "PX07", "PX08", "PX09", "PX10"].map(String::from));
    // Apps' agencies and authorized ad accounts.
    want.extend(["AP07", "AP08"].map(String::from));
    // Child businesses.
    want.extend(["CB01", "CB02", "CB03"].map(String::from));
    // Instagram business assets: owned and client lists, assigned users.
    want.extend(["IG09", "IG10", "IG11", "IG12", "IG13", "IG14"].map(String::from));
    // WhatsApp Business accounts: owned and client lists, assigned users.
    want.extend(["WA01", "WA02", "WA03", "WA04", "WA05"].map(String::from));
    // Business users and system users (issue 16).
    want.extend((1..=6).map(|i| format!("BU{i:02}")));
    want.extend((1..=5).map(|i| format!("SU{i:02}")));
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn ad_account_ids_are_accepted_both_ways_and_sent_as_graph_expects() {
    let t = table();
    for id in ["act_2000000001", "2000000001"] {
        let p = planned(
            &t,
            "/graphgateway.v1.AdAccountService/AssignAdAccountUser",
            &proto::AssignAdAccountUserRequest {
                ad_account_id: id.into(),
                user: "10002".into(),
                tasks: vec![proto::AdAccountTask::Analyze as i32],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.graph.path, "/act_2000000001/assigned_users");
        assert_eq!(param(&p, "tasks"), Some(r#"["ANALYZE"]"#));
        assert_eq!(p.ad_account.as_deref(), Some("2000000001"));
        // The mutation invalidates its own path and the user's ad accounts.
        assert!(p
            .invalidates
            .contains(&"/act_2000000001/assigned_users".to_string()));
        assert!(
            p.invalidates
                .contains(&"/10002/assigned_ad_accounts".to_string()),
            "{:?}",
            p.invalidates
        );

        let p = planned(
            &t,
            "/graphgateway.v1.AdAccountService/ClaimAdAccount",
            &proto::ClaimAdAccountRequest {
                business_id: "1000000001".into(),
                ad_account_id: id.into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(param(&p, "adaccount_id"), Some("act_2000000001"));
        assert_eq!(p.business.as_deref(), Some("1000000001"));
    }
}

#[test]
fn presets_expand_to_tasks_and_conflict_with_tasks() {
    let t = table();
    let m = "/graphgateway.v1.PageService/AssignPageUser";
    let p = planned(
        &t,
        m,
        &proto::AssignPageUserRequest {
            page_id: "3000000001".into(),
            business: "1000000001".into(),
            user: "10002".into(),
            preset: proto::PageRolePreset::Editor as i32,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        param(&p, "tasks"),
        Some(r#"["CREATE_CONTENT","MODERATE","ADVERTISE","ANALYZE"]"#)
    );
    assert_eq!(param(&p, "preset"), None, "presets are not sent");

    let both = proto::AssignPageUserRequest {
        page_id: "3000000001".into(),
        business: "1000000001".into(),
        user: "10002".into(),
        tasks: vec![proto::PageTask::Analyze as i32],
        preset: proto::PageRolePreset::Editor as i32,
        ..Default::default()
    };
    assert_eq!(
        violations(planned(&t, m, &both).unwrap_err()),
        vec!["preset"]
    );

    let neither = proto::AssignPageUserRequest {
        page_id: "3000000001".into(),
        business: "1000000001".into(),
        user: "10002".into(),
        ..Default::default()
    };
    assert_eq!(
        violations(planned(&t, m, &neither).unwrap_err()),
        vec!["tasks"]
    );
}

#[test]
fn ids_are_validated_and_path_values_cannot_escape() {
    let t = table();
    let e = planned(
        &t,
        "/graphgateway.v1.PageService/ListOwnedPages",
        &proto::ListOwnedPagesRequest {
            business_id: "1/../me".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(violations(e), vec!["business_id"]);
    let e = planned(
        &t,
        "/graphgateway.v1.AdAccountService/AssignAdAccountUser",
        &proto::AssignAdAccountUserRequest {
            ad_account_id: "act_x1".into(),
            user: "10002".into(),
            tasks: vec![proto::AdAccountTask::Analyze as i32],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(violations(e), vec!["ad_account_id"]);
}

#[test]
fn reads_ask_graph_for_every_field_of_the_node_but_the_opt_in_ones() {
    let t = table();
    let p = planned(
        &t,
        "/graphgateway.v1.AdAccountService/ListOwnedAdAccounts",
        &proto::ListOwnedAdAccountsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let fields = param(&p, "fields").unwrap();
    for f in ["id", "account_id", "name", "business{id,name}"] {
        assert!(
            fields.split(',').any(|x| x == f) || fields.contains(f),
            "{f} missing from {fields}"
        );
    }
    // Edge-context fields Meta's AdAccount does not list are opt-in: asked
    // for only when a read_mask names them.
    for f in ["permitted_tasks", "access_type", "access_status", "tasks"] {
        assert!(
            !fields.split(',').any(|x| x == f),
            "{f} asked by default: {fields}"
        );
    }
    let p = planned(
        &t,
        "/graphgateway.v1.AdAccountService/ListOwnedAdAccounts",
        &proto::ListOwnedAdAccountsRequest {
            business_id: "1000000001".into(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["access_type".into(), "permitted_tasks_raw".into()],
            }),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        param(&p, "fields").unwrap(),
        "id,access_type,permitted_tasks"
    );
    assert!(p.invalidates.is_empty(), "reads invalidate nothing");
}

#[test]
fn responses_decode_lists_objects_and_booleans() {
    let t = table();
    let route = t
        .get("/graphgateway.v1.AdAccountService/ListOwnedAdAccounts")
        .unwrap();
    let body = br#"{"data":[{"id":"act_1","account_id":"1","name":"A","access_type":"OWNER","access_status":"SOMETHING_NEW","permitted_tasks":["MANAGE","ANALYZE"],"business":{"id":"9","name":"B"},"unknown":1}],"paging":{"cursors":{"after":"C"},"next":"https://x"}}"#;
    let msg = response::decode(&t, route, body).unwrap();
    let resp = proto::ListOwnedAdAccountsResponse::decode(msg.encode_to_vec().as_slice()).unwrap();
    let a = &resp.ad_accounts[0];
    assert_eq!(a.id, "act_1");
    assert_eq!(a.access_type, proto::AccessType::Owner as i32);
    assert_eq!(
        a.access_status, 0,
        "unknown upstream enum values become UNSPECIFIED"
    );
    assert_eq!(
        a.permitted_tasks,
        vec![
            proto::AdAccountTask::Manage as i32,
            proto::AdAccountTask::Analyze as i32
        ]
    );
    assert_eq!(a.business.as_ref().unwrap().name, "B");
    assert_eq!(
        page_token::decode("AA03", &resp.next_page_token).unwrap(),
        "C"
    );

    let route = t
        .get("/graphgateway.v1.BusinessAssetGroupService/RenameBusinessAssetGroup")
        .unwrap();
    for body in [&b"true"[..], br#"{"success":true}"#] {
        let msg = response::decode(&t, route, body).unwrap();
        assert!(
            proto::MutationResult::decode(msg.encode_to_vec().as_slice())
                .unwrap()
                .success
        );
    }
    assert!(matches!(
        response::decode(&t, route, b"[1,2]"),
        Err(GatewayError::Malformed(_))
    ));
    let list = t
        .get("/graphgateway.v1.PageService/ListOwnedPages")
        .unwrap();
    assert!(matches!(
        response::decode(&t, list, br#"{"id":"1"}"#),
        Err(GatewayError::Malformed(_))
    ));
}

/// The plan memo (issue 15): reads only, per route, bounded.
#[test]
fn the_plan_memo_keeps_reads_per_route_and_stays_bounded() {
    use bytes::Bytes;
    let t = table();
    let memo = memo::PlanMemo::default();
    let read = t.by_operation("PG04").unwrap().clone();
    assert!(read.is_read());
    let other_read = t
        .iter()
        .find(|r| r.is_read() && !r.page_token && r.operation_id != "PG04")
        .unwrap()
        .clone();
    let write = t.iter().find(|r| !r.is_read()).unwrap().clone();
    let page_token_read = t.iter().find(|r| r.is_read() && r.page_token);

    let req = proto::ListOwnedPagesRequest {
        business_id: "1000000001".into(),
        ..Default::default()
    };
    let bytes = Bytes::from(req.encode_to_vec());
    assert!(memo::qualifies(&read, &bytes));
    assert!(
        !memo::qualifies(&write, &bytes),
        "mutations are planned per call"
    );
    if let Some(r) = page_token_read {
        assert!(!memo::qualifies(r, &bytes), "page-token reads too");
    }
    let big = Bytes::from(vec![0u8; memo::MAX_REQUEST + 1]);
    assert!(!memo::qualifies(&read, &big));

    assert!(memo.get(&read, &bytes).is_none());
    let msg = request::to_dynamic(&read, &req).unwrap();
    let p = plan(&t, &read, &msg).unwrap();
    let kept = memo.insert(&read, bytes.clone(), msg, p);
    assert_eq!(&*kept.key.path, "/1000000001/owned_pages");
    let again = memo.get(&read, &bytes).unwrap();
    assert!(Arc::ptr_eq(&kept, &again));
    assert_eq!(again.plan.graph, kept.plan.graph);
    // The same bytes for another route are another request.
    assert!(memo.get(&other_read, &bytes).is_none());

    // A mutation is never kept, even when asked.
    let wmsg = prost_reflect::DynamicMessage::new(write.input.clone());
    let wplan = kept.plan.clone();
    let _ = memo.insert(&write, bytes.clone(), wmsg, wplan);
    assert!(memo.get(&write, &bytes).is_none());
    assert_eq!(memo.len(), 1);

    // Bounded: a full memo is emptied, then refilled.
    for i in 0..memo::MAX_ENTRIES + 10 {
        let r = proto::ListOwnedPagesRequest {
            business_id: format!("{}", 2_000_000_000u64 + i as u64),
            ..Default::default()
        };
        let b = Bytes::from(r.encode_to_vec());
        let m = request::to_dynamic(&read, &r).unwrap();
        let p = plan(&t, &read, &m).unwrap();
        let _ = memo.insert(&read, b, m, p);
        assert!(memo.len() <= memo::MAX_ENTRIES);
    }
    assert!(!memo.is_empty());
}
