//! The OPA Data API client deciding each `fetch()` request (and each redirect hop):
//! POST {opa}/v1/data/{policy} with the request as input; only
//! `{"result": {"allow": true}}` lets it through. Unreachable OPA means denied.

use serde::Serialize;
use serde_json::json;

#[derive(Debug, Serialize)]
pub struct FetchInput<'a> {
    pub operation: &'static str,
    pub url: &'a str,
    pub method: &'a str,
    /// Headers set by the code, names lower-cased. Injected headers are never sent.
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub url_parsed: UrlParts<'a>,
}

#[derive(Debug, Serialize)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    pub query: &'a str,
}

impl<'a> FetchInput<'a> {
    pub fn new(url: &'a url::Url, method: &'a str, headers: &[(String, String)]) -> Self {
        let mut map = serde_json::Map::new();
        for (k, v) in headers {
            map.insert(k.clone(), json!(v));
        }
        Self {
            operation: "fetch",
            url: url.as_str(),
            method,
            headers: map,
            url_parsed: UrlParts {
                scheme: url.scheme(),
                host: url.host_str().unwrap_or(""),
                port: url.port_or_known_default().unwrap_or(0),
                path: url.path(),
                query: url.query().unwrap_or(""),
            },
        }
    }
}

pub struct Opa {
    endpoint: String,
    client: reqwest::Client,
}

impl Opa {
    pub fn new(base: &str, policy: &str, timeout_ms: u64) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(timeout_ms.min(10_000)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("OPA client: {e}"))?;
        Ok(Self {
            endpoint: format!("{base}/v1/data/{policy}"),
            client,
        })
    }

    /// Ok when the policy allows `input`; Err says why not (without secrets).
    pub async fn check(&self, input: &FetchInput<'_>) -> Result<(), String> {
        let denied = |why: String| format!("fetch to {} denied: {why}", input.url);
        let resp = self
            .client
            .post(&self.endpoint)
            .json(&json!({ "input": input }))
            .send()
            .await
            .map_err(|e| denied(format!("the policy service is unreachable ({})", short(&e))))?;
        if !resp.status().is_success() {
            return Err(denied(format!(
                "the policy service answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| denied("the policy service's answer is not JSON".into()))?;
        if body.pointer("/result/allow") == Some(&json!(true)) {
            Ok(())
        } else {
            Err(denied("the policy does not allow it".into()))
        }
    }
}

/// A reqwest error without the URL (which the caller reports itself).
pub fn short(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        e.without_url_ref()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        src = s.source();
    }
    msg
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut s = self.to_string();
        if let Some(u) = self.url() {
            s = s
                .replace(&format!(" ({u})"), "")
                .replace(u.as_str(), "<url>");
        }
        s
    }
}
