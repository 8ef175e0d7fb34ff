//! WasmModule S3 sources: the object URL (path-style or virtual-hosted, AWS or a custom
//! endpoint), the credentials from the referenced Secret, and the SigV4-signed GET.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use reqwest::Url;

use crate::crd::wasm_module::S3Source;

use super::module_bytes::ModuleError;
use mcp_v8_sigv4::{self as sigv4, Credentials, EMPTY_SHA256};

/// Region used for signing when the source names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The region requests for `s3` are signed for.
pub fn region(s3: &S3Source) -> &str {
    s3.region.as_deref().unwrap_or(DEFAULT_REGION)
}

/// The object's URL, with the key encoded the way SigV4 signs it.
pub fn object_url(s3: &S3Source) -> String {
    let endpoint = s3
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", region(s3)));
    let endpoint = endpoint.trim_end_matches('/');
    let key = sigv4::uri_encode(s3.key.trim_start_matches('/'), true);
    let path_style = s3.force_path_style.unwrap_or(s3.endpoint.is_some());
    if !path_style
        && let Ok(mut url) = Url::parse(endpoint)
        && let Some(host) = url.host_str().map(String::from)
        && url.set_host(Some(&format!("{}.{host}", s3.bucket))).is_ok()
    {
        url.set_path(&format!("/{key}"));
        return url.to_string();
    }
    format!("{endpoint}/{}/{key}", s3.bucket)
}

/// Reads the credentials `s3` refers to, or None for an anonymous source.
pub async fn credentials(
    client: &Client,
    ns: &str,
    s3: &S3Source,
) -> Result<Option<Credentials>, ModuleError> {
    let Some(refs) = &s3.credentials_secret else {
        return Ok(None);
    };
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(&refs.name)
        .await?;
    let data = secret.and_then(|s| s.data).unwrap_or_default();
    let value = |key: &str| -> Result<String, ModuleError> {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .ok_or_else(|| ModuleError::SourceMissing {
                kind: "Secret",
                name: refs.name.clone(),
                key: key.to_string(),
            })
    };
    Ok(Some(Credentials {
        access_key_id: value(&refs.access_key_id_key)?,
        secret_access_key: value(&refs.secret_access_key_key)?,
        session_token: match &refs.session_token_key {
            Some(key) => Some(value(key)?),
            None => None,
        },
    }))
}

/// The headers that sign a GET of `url`.
pub fn signed_get_headers(
    url: &str,
    region: &str,
    creds: &Credentials,
) -> Result<Vec<(String, String)>, ModuleError> {
    let parsed = Url::parse(url).map_err(|e| ModuleError::Download {
        url: url.into(),
        reason: e.to_string(),
    })?;
    Ok(sigv4::sign(
        "GET",
        &parsed,
        region,
        "s3",
        creds,
        &sigv4::now(),
        EMPTY_SHA256,
    ))
}

/// `Code: Message` of an S3 XML error body, when there is one.
pub fn s3_error(body: &str) -> Option<String> {
    let field = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_string())
    };
    let code = field("Code")?;
    Some(match field("Message") {
        Some(message) => format!("{code}: {message}"),
        None => code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(yaml: &str) -> S3Source {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn urls_follow_the_addressing_style() {
        let s =
            source("{endpoint: 'http://minio:9000/', bucket: mods, key: /a/b c.wasm, sha256: x}");
        assert_eq!(object_url(&s), "http://minio:9000/mods/a/b%20c.wasm");
        let s = source("{region: eu-west-1, bucket: mods, key: a.wasm, sha256: x}");
        assert_eq!(
            object_url(&s),
            "https://mods.s3.eu-west-1.amazonaws.com/a.wasm"
        );
        let s = source(
            "{region: eu-west-1, forcePathStyle: true, bucket: mods, key: a.wasm, sha256: x}",
        );
        assert_eq!(
            object_url(&s),
            "https://s3.eu-west-1.amazonaws.com/mods/a.wasm"
        );
        let s = source(
            "{endpoint: 'https://s3.example', forcePathStyle: false, bucket: mods, key: a.wasm, sha256: x}",
        );
        assert_eq!(object_url(&s), "https://mods.s3.example/a.wasm");
        assert_eq!(region(&s), DEFAULT_REGION);
    }

    #[test]
    fn s3_errors_are_read_from_the_xml_body() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>";
        assert_eq!(
            s3_error(body).as_deref(),
            Some("SignatureDoesNotMatch: bad sig")
        );
        assert_eq!(s3_error("not xml"), None);
    }
}
