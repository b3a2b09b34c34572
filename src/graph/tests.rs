use super::*;

#[test]
fn parses_graph_error_objects() {
    let body = br#"{"error":{"message":"(#17) User request limit reached","type":"OAuthException","code":17,"error_subcode":2446079,"is_transient":true,"fbtrace_id":"AbC123"}}"#;
    let e = GraphError::parse(body, 400).unwrap();
    assert_eq!(e.code, 17);
    assert_eq!(e.subcode, Some(2446079));
    assert_eq!(e.fbtrace_id.as_deref(), Some("AbC123"));
    assert!(e.is_throttling());
    assert!(e.is_transient());
    assert!(GraphError::parse(br#"{"data":[]}"#, 200).is_none());
    assert!(GraphError::parse(b"not json", 500).is_none());
    // A batch's answer to one call is an array, not an error (serde reads
    // a one-element array as the envelope struct).
    assert!(GraphError::parse(br#"[{"code":200,"body":"{}"}]"#, 200).is_none());
    assert_eq!(
        GraphError::parse(b"  \n{\"error\":{\"code\":100,\"message\":\"x\"}}", 400).map(|e| e.code),
        Some(100)
    );
}

#[test]
fn throttling_codes() {
    let mk = |code| GraphError {
        code,
        subcode: None,
        error_type: String::new(),
        message: String::new(),
        is_transient: false,
        fbtrace_id: None,
        http_status: 400,
    };
    for c in [4, 17, 32, 613, 80000, 80004, 80014] {
        assert!(mk(c).is_throttling(), "{c}");
    }
    for c in [1, 2, 100, 190, 200, 80015] {
        assert!(!mk(c).is_throttling(), "{c}");
    }
}

#[test]
fn parses_usage_headers() {
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-app-usage",
        r#"{"call_count":28,"total_time":25,"total_cputime":25}"#
            .parse()
            .unwrap(),
    );
    h.insert(
        "x-business-use-case-usage",
        r#"{"1000000001":[{"type":"ads_management","call_count":95,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":7}]}"#.parse().unwrap(),
    );
    h.insert(
        "x-ad-account-usage",
        r#"{"acc_id_util_pct":9.67,"reset_time_duration":120,"ads_api_access_tier":"development_access"}"#.parse().unwrap(),
    );
    let u = Usage::from_headers(&h);
    assert_eq!(u.app.as_ref().unwrap().call_count, 28.0);
    assert_eq!(u.business_use_case.len(), 1);
    assert_eq!(u.business_use_case[0].business_id, "1000000001");
    assert_eq!(u.business_use_case[0].use_case, "ads_management");
    assert_eq!(u.business_use_case[0].estimated_time_to_regain_access, 7.0);
    let a = u.ad_account.unwrap();
    assert!((a.acc_id_util_pct - 9.67).abs() < 1e-9);
    assert_eq!(a.reset_time_duration, 120.0);
    assert_eq!(a.ads_api_access_tier.as_deref(), Some("development_access"));
}

#[test]
fn malformed_usage_headers_are_ignored() {
    let mut h = http::HeaderMap::new();
    h.insert("x-app-usage", "garbage".parse().unwrap());
    assert!(Usage::from_headers(&h).is_empty());
}

#[test]
fn appsecret_proof_is_hmac_sha256_hex() {
    // Reference value computed with: printf %s token | openssl dgst -sha256 -hmac secret
    let p = GraphClient::appsecret_proof(
        &crate::secret::Secret::new("secret"),
        &crate::secret::Secret::new("token"),
    );
    assert_eq!(
        p,
        "e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a"
    );
}
