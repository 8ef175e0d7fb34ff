//! Header injection for `fetch()`: rules from `--fetch-header` and
//! `--fetch-header-config` add headers (often credentials) to requests for matching
//! hosts and methods. Values never reach logs, errors, OPA or the JS code: they are
//! read (from files at request time, so a mounted Secret can rotate) only to be put
//! on the outgoing request.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hosts::host_matches;

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum HeaderValue {
    Value(String),
    File { value_file: PathBuf },
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Value(_) => f.write_str("<redacted>"),
            HeaderValue::File { value_file } => write!(f, "<from {}>", value_file.display()),
        }
    }
}

impl HeaderValue {
    /// The value to send; file values are re-read each time (trailing newline dropped).
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            HeaderValue::Value(v) => Ok(v.clone()),
            HeaderValue::File { value_file } => std::fs::read_to_string(value_file)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| {
                    format!(
                        "an injected header's value file {} cannot be read: {}",
                        value_file.display(),
                        e.kind()
                    )
                }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeaderRule {
    /// Exact host, or `*.domain` (which also matches the bare domain).
    pub host: String,
    /// Upper-case methods; empty means every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, HeaderValue)>,
}

impl HeaderRule {
    pub fn applies(&self, host: &str, method: &str) -> bool {
        host_matches(&self.host, host)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
    }
}

/// Parses one `--fetch-header "host=<h>,header=<n>,value=<v>[,methods=GET;POST]"`.
/// A value may itself contain commas: text after `value=` that does not start a
/// known key belongs to the value.
pub fn parse_flag(s: &str) -> Result<HeaderRule, String> {
    let (mut host, mut header, mut value, mut methods) = (None, None, None::<String>, None);
    let mut last_was_value = false;
    for part in s.split(',') {
        let kv = part.split_once('=');
        match kv {
            Some(("host", v)) => host = Some(v.trim().to_owned()),
            Some(("header", v)) => header = Some(v.trim().to_owned()),
            Some(("value", v)) => value = Some(v.to_owned()),
            Some(("methods", v)) => methods = Some(v.to_owned()),
            _ if last_was_value => {
                if let Some(v) = value.as_mut() {
                    v.push(',');
                    v.push_str(part);
                }
                continue;
            }
            _ => {
                return Err(format!(
                    "--fetch-header: unexpected {part:?}; expected host=<h>,header=<n>,value=<v>[,methods=GET;POST]"
                ));
            }
        }
        last_was_value = matches!(kv, Some(("value", _)));
    }
    let missing = |what| format!("--fetch-header is missing {what}=");
    let rule = HeaderRule {
        host: host.ok_or_else(|| missing("host"))?,
        methods: methods.map(|m| split_methods(&m, ';')).unwrap_or_default(),
        headers: vec![(
            header.ok_or_else(|| missing("header"))?,
            HeaderValue::Value(value.ok_or_else(|| missing("value"))?),
        )],
    };
    validate(rule)
}

fn split_methods(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    host: String,
    #[serde(default)]
    methods: Vec<String>,
    headers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileDoc {
    Rules { rules: Vec<FileRule> },
    List(Vec<FileRule>),
}

/// Reads `--fetch-header-config`: `{"rules": [{"host", "methods"?, "headers": {name:
/// "value" | {"value_file": "/path"}}}]}` (a bare array of rules also works).
pub fn read_config(path: &Path) -> Result<Vec<HeaderRule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --fetch-header-config {}: {e}", path.display()))?;
    let doc: FileDoc = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--fetch-header-config {} must be {{\"rules\": [{{\"host\", \"methods\", \"headers\"}}]}}: {e}",
            path.display()
        )
    })?;
    let rules = match doc {
        FileDoc::Rules { rules } | FileDoc::List(rules) => rules,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    rules
        .into_iter()
        .map(|r| {
            let headers = r
                .headers
                .into_iter()
                .map(|(name, v)| {
                    let value = match v {
                        serde_json::Value::String(s) => HeaderValue::Value(s),
                        serde_json::Value::Object(o) => match o.get("value_file") {
                            Some(serde_json::Value::String(p)) if o.len() == 1 => {
                                HeaderValue::File {
                                    value_file: base.join(p),
                                }
                            }
                            _ => return Err(format!(
                                "--fetch-header-config: header {name:?} must be a string or {{\"value_file\": \"<path>\"}}"
                            )),
                        },
                        _ => {
                            return Err(format!(
                                "--fetch-header-config: header {name:?} must be a string or {{\"value_file\": \"<path>\"}}"
                            ));
                        }
                    };
                    Ok((name, value))
                })
                .collect::<Result<Vec<_>, String>>()?;
            validate(HeaderRule {
                host: r.host,
                methods: r.methods.iter().map(|m| m.trim().to_ascii_uppercase()).collect(),
                headers,
            })
        })
        .collect()
}

fn validate(mut rule: HeaderRule) -> Result<HeaderRule, String> {
    let bare = rule.host.strip_prefix("*.").unwrap_or(&rule.host);
    if bare.is_empty() || bare.contains(['*', '/', ':', ' ']) {
        return Err(format!(
            "fetch header rule host {:?} must be a host name or *.domain (no port, scheme or path)",
            rule.host
        ));
    }
    if rule.headers.is_empty() {
        return Err(format!(
            "fetch header rule for {:?} sets no header",
            rule.host
        ));
    }
    for (name, value) in &mut rule.headers {
        *name = name.trim().to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("{name:?} is not a valid header name"));
        }
        if let HeaderValue::Value(v) = value
            && http::HeaderValue::from_str(v).is_err()
        {
            return Err(format!(
                "the value of header {name:?} for {:?} is not a valid header value",
                rule.host
            ));
        }
    }
    if let Some(m) = rule
        .methods
        .iter()
        .find(|m| http::Method::from_bytes(m.as_bytes()).is_err())
    {
        return Err(format!("{m:?} is not an HTTP method"));
    }
    Ok(rule)
}

/// Headers to add for `host` and `method`, skipping names the code already set.
/// The first rule naming a header wins (flags before the config file).
pub fn injected<'a>(
    rules: &'a [HeaderRule],
    host: &str,
    method: &str,
    set_by_code: &[String],
) -> Vec<(&'a str, &'a HeaderValue)> {
    let mut out: Vec<(&str, &HeaderValue)> = Vec::new();
    for rule in rules.iter().filter(|r| r.applies(host, method)) {
        for (name, value) in &rule.headers {
            if !set_by_code.iter().any(|n| n == name) && !out.iter().any(|(n, _)| n == name) {
                out.push((name, value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_commas_in_values_and_methods() {
        let r = parse_flag("host=*.Example.com,header=X-Key,value=a,b=c,methods=get;POST").unwrap();
        assert_eq!(r.host, "*.Example.com");
        assert_eq!(r.methods, ["GET", "POST"]);
        assert_eq!(r.headers[0].0, "x-key");
        assert_eq!(r.headers[0].1, HeaderValue::Value("a,b=c".into()));
        assert!(
            parse_flag("host=a,value=v")
                .unwrap_err()
                .contains("header=")
        );
        assert!(parse_flag("host=a:80,header=h,value=v").is_err());
        assert!(parse_flag("host=a,header=bad name,value=v").is_err());
        assert!(format!("{r:?}").contains("<redacted>") && !format!("{r:?}").contains("a,b=c"));
    }

    #[test]
    fn the_operator_config_format_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fetch-headers.json");
        let doc = serde_json::json!({"rules": [{"host": "*.example.com", "methods": ["GET"], "headers": {
            "Authorization": {"value_file": "/etc/mcp-v8/fetch/api/token"}, "X-Team": "blue"}}]});
        std::fs::write(&path, doc.to_string()).unwrap();
        let rules = read_config(&path).unwrap();
        assert_eq!(rules[0].methods, ["GET"]);
        assert_eq!(
            rules[0].headers,
            [
                (
                    "authorization".to_owned(),
                    HeaderValue::File {
                        value_file: "/etc/mcp-v8/fetch/api/token".into()
                    }
                ),
                ("x-team".to_owned(), HeaderValue::Value("blue".into())),
            ]
        );
        std::fs::write(&path, r#"{"rules": [{"host": "a", "headers": {"h": 1}}]}"#).unwrap();
        assert!(read_config(&path).unwrap_err().contains("must be a string"));
    }

    #[test]
    fn injection_respects_host_method_and_code_headers() {
        let rules = vec![
            parse_flag("host=api.test,header=authorization,value=Bearer s,methods=GET").unwrap(),
            parse_flag("host=*.test,header=x-a,value=1").unwrap(),
            parse_flag("host=*.test,header=authorization,value=other").unwrap(),
        ];
        let names = |v: Vec<(&str, &HeaderValue)>| {
            v.into_iter().map(|(n, _)| n.to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(injected(&rules, "API.test", "GET", &[])),
            ["authorization", "x-a"]
        );
        let post = injected(&rules, "api.test", "POST", &[]);
        assert_eq!(post[1].1, &HeaderValue::Value("other".into()));
        assert_eq!(
            names(injected(
                &rules,
                "api.test",
                "GET",
                &["authorization".into()]
            )),
            ["x-a"]
        );
        assert!(injected(&rules, "elsewhere", "GET", &[]).is_empty());
    }
}
