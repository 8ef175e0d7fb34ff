//! `fetch()` as the worker performs it: every hop (the request and each redirect) is
//! refused for link-local/metadata addresses, decided by OPA, given the injected
//! headers of its own host, and bounded in size and time.

use std::time::Duration;

use super::FetchConfig;
use super::headers::injected;
use super::netguard::{self, GuardedResolver};
use super::opa::{FetchInput, Opa, short};

const MAX_REDIRECTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Redirect {
    Follow,
    Error,
    Manual,
}

#[derive(Debug)]
pub struct Request {
    pub url: String,
    pub method: String,
    /// As the code gave them; names are lower-cased here.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub redirect: Redirect,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub status_text: String,
    pub url: String,
    pub redirected: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct Fetcher {
    config: FetchConfig,
    opa: Opa,
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(10_000)))
            .build()
            .map_err(|e| format!("fetch client: {e}"))?;
        Ok(Self {
            opa: Opa::new(&config.opa_url, &config.policy, config.timeout_ms)?,
            config: config.clone(),
            client,
        })
    }

    pub async fn fetch(&self, req: Request) -> Result<Reply, String> {
        let url = req.url.clone();
        let limit = Duration::from_millis(self.config.timeout_ms);
        match tokio::time::timeout(limit, self.run(req)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "fetch to {url} timed out after {} ms",
                self.config.timeout_ms
            )),
        }
    }

    async fn run(&self, req: Request) -> Result<Reply, String> {
        let mut url = url::Url::parse(&req.url)
            .map_err(|e| format!("fetch: {:?} is not a valid URL: {e}", req.url))?;
        let mut method = req.method.trim().to_ascii_uppercase();
        if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(format!("fetch: {method:?} is not an HTTP method"));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in req.headers {
            let name = name.trim().to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(&value).is_err()
            {
                return Err(format!("fetch: invalid header {name:?}"));
            }
            headers.retain(|(n, _)| *n != name);
            headers.push((name, value));
        }
        let mut body = req.body;
        if body
            .as_ref()
            .is_some_and(|b| b.len() as u64 > self.config.max_request_bytes)
        {
            return Err(format!(
                "fetch: the request body is larger than {} bytes",
                self.config.max_request_bytes
            ));
        }
        for hop in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "fetch to {url} refused: only http and https URLs can be fetched"
                ));
            }
            netguard::check_url(&url).map_err(|why| format!("fetch to {url} refused: {why}"))?;
            self.opa
                .check(&FetchInput::new(&url, &method, &headers))
                .await?;
            let resp = self.send(&url, &method, &headers, body.clone()).await?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            if status.is_redirection()
                && req.redirect != Redirect::Manual
                && let Some(location) = location
            {
                if req.redirect == Redirect::Error {
                    return Err(format!(
                        "fetch to {url} was redirected and redirect is \"error\""
                    ));
                }
                let next = url.join(&location).map_err(|_| {
                    format!("fetch to {url}: the redirect location is not a valid URL")
                })?;
                if status == 303 || (matches!(status.as_u16(), 301 | 302) && method == "POST") {
                    method = "GET".into();
                    body = None;
                    headers.retain(|(n, _)| !n.starts_with("content-"));
                }
                if next.origin() != url.origin() {
                    // As browsers do: the code's credentials are for the origin it named.
                    headers.retain(|(n, _)| n != "authorization" && n != "cookie");
                }
                url = next;
                let _ = hop;
                continue;
            }
            return self.reply(resp, hop > 0).await;
        }
        Err(format!(
            "fetch to {} failed: more than {MAX_REDIRECTS} redirects",
            req.url
        ))
    }

    async fn send(
        &self,
        url: &url::Url,
        method: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut rb = self.client.request(method.clone(), url.clone());
        for (n, v) in headers {
            rb = rb.header(n, v);
        }
        let set: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
        let host = url.host_str().unwrap_or("");
        for (name, value) in injected(&self.config.header_rules, host, method.as_str(), &set) {
            let value = value.resolve()?;
            let value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                format!("fetch to {url}: the injected header {name:?} has an invalid value")
            })?;
            rb = rb.header(name, value);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        rb.send()
            .await
            .map_err(|e| format!("fetch to {url} failed: {}", short(&e)))
    }

    async fn reply(&self, mut resp: reqwest::Response, redirected: bool) -> Result<Reply, String> {
        let max = self.config.max_response_bytes;
        let url = resp.url().to_string();
        let too_big =
            || format!("fetch to {url} failed: the response body is larger than {max} bytes");
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_big());
        }
        let status = resp.status();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            format!(
                "fetch to {url} failed while reading the body: {}",
                short(&e)
            )
        })? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url,
            redirected,
            headers,
            body,
        })
    }
}
