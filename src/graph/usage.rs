use std::collections::BTreeMap;

/// `X-App-Usage`: percentages of the app's hourly allowance.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct AppUsage {
    /// Calls, percent.
    #[serde(default)]
    pub call_count: f64,
    /// CPU time, percent.
    #[serde(default)]
    pub total_cputime: f64,
    /// Total time, percent.
    #[serde(default)]
    pub total_time: f64,
}

/// One entry of `X-Business-Use-Case-Usage`.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct BusinessUseCaseUsage {
    /// The business object id the entry is about (the header's map key).
    #[serde(skip)]
    pub business_id: String,
    /// The use case, e.g. "ads_management", "pages", "custom_audience".
    #[serde(rename = "type", default)]
    pub use_case: String,
    /// Calls, percent.
    #[serde(default)]
    pub call_count: f64,
    /// CPU time, percent.
    #[serde(default)]
    pub total_cputime: f64,
    /// Total time, percent.
    #[serde(default)]
    pub total_time: f64,
    /// Minutes until throttling lifts; 0 when not throttled.
    #[serde(default)]
    pub estimated_time_to_regain_access: f64,
}

/// `X-Ad-Account-Usage`.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct AdAccountUsage {
    /// Utilisation of the ad account's score, percent.
    #[serde(default)]
    pub acc_id_util_pct: f64,
    /// Seconds until the score resets.
    #[serde(default)]
    pub reset_time_duration: f64,
    /// "development_access" or "standard_access".
    #[serde(default)]
    pub ads_api_access_tier: Option<String>,
}

/// Everything Graph said about usage in one response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// From X-App-Usage.
    pub app: Option<AppUsage>,
    /// From X-Business-Use-Case-Usage, one entry per business and use case.
    pub business_use_case: Vec<BusinessUseCaseUsage>,
    /// From X-Ad-Account-Usage.
    pub ad_account: Option<AdAccountUsage>,
}

// === impl Usage ===

impl Usage {
    /// Parses the three usage headers; malformed headers are ignored (usage is
    /// advice, never a reason to fail a call).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let json = |name: &str| headers.get(name).map(|v| v.as_bytes());
        let app = json("x-app-usage").and_then(|b| serde_json::from_slice(b).ok());
        let ad_account = json("x-ad-account-usage").and_then(|b| serde_json::from_slice(b).ok());
        let business_use_case = json("x-business-use-case-usage")
            .and_then(|b| {
                serde_json::from_slice::<BTreeMap<String, Vec<BusinessUseCaseUsage>>>(b).ok()
            })
            .map(|m| {
                m.into_iter()
                    .flat_map(|(id, entries)| {
                        entries.into_iter().map(move |mut e| {
                            e.business_id = id.clone();
                            e
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            app,
            business_use_case,
            ad_account,
        }
    }

    /// True when no header was present.
    pub fn is_empty(&self) -> bool {
        self.app.is_none() && self.ad_account.is_none() && self.business_use_case.is_empty()
    }
}
