//! AWS Signature Version 4 for the few signed S3 GETs outside the heap store: module
//! downloads by the operator (`WasmModule` sources) and by the executor at startup
//! (`--wasm-config` entries with an `"s3"` block). Computed with sha2 + hmac rather than
//! pulling in the AWS SDK. Only what S3 needs: the payload is sent as a hash header
//! (`x-amz-content-sha256`), the path is encoded once, and the signed headers are host,
//! the payload hash, the date and an optional session token.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

#[cfg(feature = "testing")]
pub mod testing;

/// Credentials to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Never print the secret parts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// sha256 of the empty payload, as S3 expects for a GET.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of everything but the unreserved characters (and `/` when `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The Host header value reqwest sends for `url` (the port only when not the default).
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Headers (name, value) that sign a request of `method` to `url` with an empty body at
/// `amz_date` (`YYYYMMDDTHHMMSSZ`), for `service` in `region`. The URL's path must already
/// be encoded (as [`uri_encode`] does); the query string is sorted here.
pub fn sign(
    method: &str,
    url: &Url,
    region: &str,
    service: &str,
    creds: &Credentials,
    amz_date: &str,
    payload_sha256: &str,
) -> Vec<(String, String)> {
    let date = &amz_date[..8];
    let mut headers = vec![
        ("host".to_string(), host_header(url)),
        (
            "x-amz-content-sha256".to_string(),
            payload_sha256.to_string(),
        ),
        ("x-amz-date".to_string(), amz_date.to_string()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".to_string(), token.clone()));
    }
    headers.sort();
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_sha256}",
        url.path()
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", creds.secret_access_key).as_bytes(), date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &string_to_sign));
    headers.retain(|(k, _)| k != "host");
    headers.push((
        "authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    headers
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time in seconds (UTC, proleptic Gregorian calendar).
pub fn amz_date(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time as an amz date.
pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    amz_date(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(951_782_400 + 3661), "20000229T010101Z");
    }

    /// Expected signatures computed independently with botocore's `S3SigV4Auth` for the
    /// same requests (path-style, a port, an encoded key, with and without a token).
    #[test]
    fn signatures_match_botocore() {
        let mut creds = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let url = Url::parse("http://127.0.0.1:9000/mods/dir/a%20b.wasm").unwrap();
        let auth = |creds: &Credentials| {
            let headers = sign(
                "GET",
                &url,
                "eu-west-1",
                "s3",
                creds,
                "20130524T000000Z",
                EMPTY_SHA256,
            );
            headers
                .into_iter()
                .find(|(k, _)| k == "authorization")
                .unwrap()
                .1
        };
        assert_eq!(
            auth(&creds),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=45465891b56c97dfbf5823c5ca207c81a9d99d4b13856cb4540a6c6be2ee0ea2"
        );
        creds.session_token = Some("TOKEN/x+y".into());
        assert!(
            auth(&creds).ends_with("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=43168e154627fd46d170e0ae4dd4728e55046440d4168b4878cc0cfdc1d53680")
        );
        assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
    }

    #[test]
    fn keys_are_encoded_once_keeping_slashes() {
        assert_eq!(uri_encode("a b/c+d.wasm", true), "a%20b/c%2Bd.wasm");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }
}
