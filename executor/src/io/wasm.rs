//! Preloaded WebAssembly modules: `--wasm-module name=path` and `--wasm-config file.json`
//! resolved once by the server at startup. Every module's bytes are read (or fetched and
//! digest-checked), validated with wasmparser and copied into a content-addressed
//! directory the workers read from, so a bad module stops startup naming its source and
//! every worker compiles exactly the bytes that were checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mcp_v8_sigv4 as sigv4;

/// Largest module accepted (SQLite builds are ~1 MiB; this leaves room for big ones).
const MAX_WASM_BYTES: usize = 256 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// One module as the workers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmModule {
    /// The global it is exposed as (`name`, and `__wasm_<name>` for the compiled module).
    pub name: String,
    /// The verified bytes, named by their digest.
    pub path: PathBuf,
    pub sha256: String,
    /// Without imports the engine instantiates it for every run.
    pub instantiate: bool,
}

/// Where a module's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Source {
    Path(PathBuf),
    Url {
        url: String,
        sha256: String,
        #[serde(default)]
        s3: Option<S3Auth>,
    },
}

/// Credentials files of a signed S3 GET (the operator mounts them from a Secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Auth {
    #[serde(default = "default_region")]
    region: String,
    access_key_id_file: PathBuf,
    secret_access_key_file: PathBuf,
    #[serde(default)]
    session_token_file: Option<PathBuf>,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// Resolves the flags into the module list; `dir` receives the verified bytes.
pub fn resolve(
    flags: &[String],
    config: Option<&Path>,
    dir: &Path,
) -> Result<Vec<WasmModule>, String> {
    let mut sources: BTreeMap<String, (String, Source)> = BTreeMap::new();
    let mut add = |name: String, origin: String, source: Source| {
        check_name(&name).map_err(|e| format!("{origin}: {e}"))?;
        if let Some((first, _)) = sources.get(&name) {
            return Err(format!(
                "WebAssembly module name {name:?} is defined twice ({first} and {origin})"
            ));
        }
        sources.insert(name, (origin, source));
        Ok(())
    };
    for flag in flags.iter().filter(|f| !f.trim().is_empty()) {
        let (name, path) = flag
            .split_once('=')
            .ok_or_else(|| format!("--wasm-module {flag:?} must be name=path"))?;
        add(
            name.trim().to_owned(),
            format!("--wasm-module {flag}"),
            Source::Path(PathBuf::from(path.trim())),
        )?;
    }
    if let Some(file) = config {
        for (name, source) in read_config(file)? {
            add(name, format!("--wasm-config {}", file.display()), source)?;
        }
    }
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the wasm directory {}: {e}", dir.display()))?;
    sources
        .into_iter()
        .map(|(name, (_, source))| load(name, &source, dir))
        .collect()
}

/// A global name: a JS identifier, and not one of the engine's own.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ident = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !ident {
        return Err(format!(
            "WebAssembly module name {name:?} must be a JavaScript identifier ([A-Za-z_$][A-Za-z0-9_$]*)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "WebAssembly module name {name:?} must not start with __ (reserved for the engine)"
        ));
    }
    Ok(())
}

fn read_config(file: &Path) -> Result<BTreeMap<String, Source>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read --wasm-config {}: {e}", file.display()))?;
    let mut map: BTreeMap<String, Source> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--wasm-config {} must be {{\"name\": \"path\" | {{\"url\": \"…\", \"sha256\": \"…\"}}}}: {e}",
            file.display()
        )
    })?;
    // Relative paths are relative to the config file, like --policies-json.
    let base = file.parent().unwrap_or(Path::new("."));
    for source in map.values_mut() {
        if let Source::Path(p) = source
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    }
    Ok(map)
}

fn load(name: String, source: &Source, dir: &Path) -> Result<WasmModule, String> {
    let (origin, bytes) = match source {
        Source::Path(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read WebAssembly module {name:?} from {}: {e}",
                    path.display()
                )
            })?;
            (path.display().to_string(), bytes)
        }
        Source::Url { url, sha256, s3 } => {
            let want = sha256.to_ascii_lowercase();
            if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "WebAssembly module {name:?}: sha256 {sha256:?} must be 64 hex characters"
                ));
            }
            let bytes = fetch(url, s3.as_ref())
                .map_err(|e| format!("cannot fetch WebAssembly module {name:?} from {url}: {e}"))?;
            let got = hex::encode(Sha256::digest(&bytes));
            if got != want {
                return Err(format!(
                    "WebAssembly module {name:?} from {url}: sha256 mismatch (expected {want}, got {got})"
                ));
            }
            (url.clone(), bytes)
        }
    };
    let instantiate = validate(&bytes).map_err(|e| {
        format!("WebAssembly module {name:?} ({origin}) is not a valid module: {e}")
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let path = dir.join(format!("{sha256}.wasm"));
    if !path.exists() {
        let tmp = dir.join(format!("{sha256}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(WasmModule {
        name,
        path,
        sha256,
        instantiate,
    })
}

/// Validates the module as V8 would (core spec + the proposals V8 ships); `Ok(true)` when
/// it has no imports.
fn validate(bytes: &[u8]) -> Result<bool, String> {
    if bytes.len() > MAX_WASM_BYTES {
        return Err(format!("larger than {} MiB", MAX_WASM_BYTES >> 20));
    }
    let mut imports = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            wasmparser::Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => return Err("a component, not a core module".into()),
            wasmparser::Payload::ImportSection(section) => imports += section.count(),
            _ => {}
        }
    }
    wasmparser::Validator::new()
        .validate_all(bytes)
        .map_err(|e| e.to_string())?;
    Ok(imports == 0)
}

/// GETs `url` (signed with SigV4 when `s3` is given) from a thread of its own, so startup
/// code may call this from inside the server's async runtime.
fn fetch(url: &str, s3: Option<&S3Auth>) -> Result<Vec<u8>, String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must be http:// or https://".into());
    }
    let mut headers = Vec::new();
    if let Some(auth) = s3 {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("cannot read S3 credentials file {}: {e}", p.display()))
        };
        let creds = sigv4::Credentials {
            access_key_id: read(&auth.access_key_id_file)?,
            secret_access_key: read(&auth.secret_access_key_file)?,
            session_token: auth.session_token_file.as_deref().map(read).transpose()?,
        };
        headers = sigv4::sign(
            "GET",
            &parsed,
            &auth.region,
            "s3",
            &creds,
            &sigv4::now(),
            sigv4::EMPTY_SHA256,
        );
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(get(parsed, headers))
        })
        .join()
        .map_err(|_| "the download thread panicked".to_owned())?
    })
}

async fn get(url: url::Url, headers: Vec<(String, String)>) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let code = body
            .split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        return Err(format!("HTTP {status}{code}"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_WASM_BYTES {
            return Err(format!("larger than {} MiB", MAX_WASM_BYTES >> 20));
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers_outside_the_engine_namespace() {
        assert!(check_name("sqlite").is_ok());
        assert!(check_name("$re_2").is_ok());
        assert!(check_name("2x").is_err());
        assert!(check_name("a-b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("__mcpV8").is_err());
    }

    #[test]
    fn config_entries_are_paths_or_urls_with_digests() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.json");
        std::fs::write(
            &file,
            r#"{"a": "a.wasm", "b": {"url": "http://x/b.wasm", "sha256": "00"},
                "c": {"url": "http://x/c", "sha256": "00", "s3": {"region": "eu-west-1",
                "access_key_id_file": "/k", "secret_access_key_file": "/s"}}}"#,
        )
        .unwrap();
        let map = read_config(&file).unwrap();
        assert_eq!(map["a"], Source::Path(dir.path().join("a.wasm")));
        assert!(matches!(&map["b"], Source::Url { s3: None, .. }));
        assert!(matches!(&map["c"], Source::Url { s3: Some(a), .. } if a.region == "eu-west-1"));
    }
}
