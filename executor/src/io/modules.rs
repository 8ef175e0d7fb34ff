//! ES module imports: specifiers resolved (`npm:`, `jsr:`, URLs, relative paths),
//! fetched by the worker through the allow-list (every redirect hop re-checked),
//! bounded in size and time, TypeScript stripped, and cached.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::ModulesConfig;
use super::module_cache::{Kind, Loaded, ModuleCache};
use super::netguard::{self, GuardedResolver};
use super::opa::short;

const MAX_REDIRECTS: usize = 10;

pub struct Modules {
    config: ModulesConfig,
    client: reqwest::Client,
    cache: RefCell<ModuleCache>,
}

impl Modules {
    pub fn new(config: &ModulesConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver))
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| format!("module client: {e}"))?;
        Ok(Self {
            cache: RefCell::new(ModuleCache::new(config.cache_dir.clone())),
            config: config.clone(),
            client,
        })
    }

    /// The URL `specifier` names when imported from `referrer`.
    pub fn resolve(&self, specifier: &str, referrer: &str) -> Result<url::Url, String> {
        let cdn = &self.config.cdn;
        let mapped = if let Some(pkg) = specifier.strip_prefix("npm:") {
            format!("{cdn}/{}", pkg.trim_start_matches('/'))
        } else if let Some(pkg) = specifier.strip_prefix("jsr:") {
            format!("{cdn}/jsr/{}", pkg.trim_start_matches('/'))
        } else if let Ok(url) = url::Url::parse(specifier) {
            return Ok(url);
        } else if specifier.starts_with("./")
            || specifier.starts_with("../")
            || specifier.starts_with('/')
        {
            let base = url::Url::parse(referrer).map_err(|_| {
                format!("relative import {specifier:?} has no base URL; import a full URL, npm: or jsr: specifier")
            })?;
            return base
                .join(specifier)
                .map_err(|e| format!("import {specifier:?} from {referrer}: {e}"));
        } else {
            return Err(format!(
                "bare import {specifier:?}: write npm:{specifier} (or a full URL)"
            ));
        };
        url::Url::parse(&mapped).map_err(|e| format!("import {specifier:?}: {e}"))
    }

    /// Whether `url`'s host may be imported from.
    pub fn check_allowed(&self, url: &url::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "importing {url} is not allowed: only http(s), npm:, jsr: and data: imports are"
            ));
        }
        let host = url.host_str().unwrap_or("");
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.config.allow.iter().any(|h| h.allows(host, port)) {
            let list: Vec<String> = self.config.allow.iter().map(ToString::to_string).collect();
            return Err(format!(
                "importing {url} is not allowed: host {host}{} is not in --module-allow-host ({})",
                url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                list.join(", ")
            ));
        }
        netguard::check_url(url).map_err(|why| format!("importing {url} is not allowed: {why}"))
    }

    pub async fn load(&self, url: &url::Url) -> Result<Rc<Loaded>, String> {
        if let Some(hit) = self.cache.borrow_mut().get(url.as_str()) {
            return Ok(hit);
        }
        let loaded = self.fetch(url).await?;
        let mut cache = self.cache.borrow_mut();
        if loaded.final_url != url.as_str() {
            // The redirect wrapper imports the final URL next; serve it from here.
            let again = Loaded {
                final_url: loaded.final_url.clone(),
                kind: loaded.kind,
                code: loaded.code.clone(),
                has_default: loaded.has_default,
            };
            cache.put(&loaded.final_url, again);
        }
        Ok(cache.put(url.as_str(), loaded))
    }

    async fn fetch(&self, asked: &url::Url) -> Result<Loaded, String> {
        let mut url = asked.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.check_allowed(&url)?;
            let mut resp = self
                .client
                .get(url.clone())
                .header(
                    "accept",
                    "application/javascript, text/typescript, application/json;q=0.9, */*;q=0.5",
                )
                .send()
                .await
                .map_err(|e| format!("import of {url} failed: {}", short(&e)))?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        format!("import of {url} failed: a redirect without a location")
                    })?;
                url = url
                    .join(location)
                    .map_err(|_| format!("import of {url} failed: invalid redirect location"))?;
                continue;
            }
            if !status.is_success() {
                return Err(format!("import of {url} failed: HTTP {}", status.as_u16()));
            }
            let max = self.config.max_module_bytes;
            let too_big =
                || format!("import of {url} failed: the module is larger than {max} bytes");
            if resp.content_length().is_some_and(|n| n > max) {
                return Err(too_big());
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("import of {url} failed: {}", short(&e)))?
            {
                if (body.len() + chunk.len()) as u64 > max {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(body)
                .map_err(|_| format!("import of {url} failed: the module is not UTF-8"))?;
            return to_loaded(&url, &content_type, text);
        }
        Err(format!(
            "import of {asked} failed: more than {MAX_REDIRECTS} redirects"
        ))
    }
}

/// What kind of module a response is, from its path or else its content type.
fn to_loaded(url: &url::Url, content_type: &str, text: String) -> Result<Loaded, String> {
    let path = url.path().to_ascii_lowercase();
    let ts = path.ends_with(".ts") || path.ends_with(".mts") || content_type.contains("typescript");
    let tsx = path.ends_with(".tsx");
    let json = path.ends_with(".json") || content_type.starts_with("application/json");
    let (kind, code) = if tsx || ts {
        let js = crate::engine::transform::strip_module(&text, tsx)
            .map_err(|e| format!("import of {url} failed: {e}"))?;
        (Kind::JavaScript, js)
    } else if json {
        (Kind::Json, text)
    } else {
        (Kind::JavaScript, text)
    };
    let has_default = kind == Kind::Json || has_default_export(&code);
    Ok(Loaded {
        final_url: url.to_string(),
        kind,
        code,
        has_default,
    })
}

/// Whether a module's source declares a default export (false when it does not
/// parse; V8 reports the syntax error when it loads the module).
fn has_default_export(code: &str) -> bool {
    use swc_ecma_ast::{ModuleDecl, ModuleExportName, ModuleItem};
    let Ok((module, _)) = crate::engine::transform::parse_module(code) else {
        return false;
    };
    let is_default =
        |n: &ModuleExportName| matches!(n, ModuleExportName::Ident(i) if &*i.sym == "default");
    module.body.iter().any(|item| match item {
        ModuleItem::ModuleDecl(
            ModuleDecl::ExportDefaultDecl(_) | ModuleDecl::ExportDefaultExpr(_),
        ) => true,
        ModuleItem::ModuleDecl(ModuleDecl::ExportNamed(named)) => {
            named.specifiers.iter().any(|s| match s {
                swc_ecma_ast::ExportSpecifier::Named(n) => {
                    n.exported.as_ref().is_some_and(is_default)
                        || (n.exported.is_none() && is_default(&n.orig))
                }
                swc_ecma_ast::ExportSpecifier::Default(_) => true,
                swc_ecma_ast::ExportSpecifier::Namespace(ns) => is_default(&ns.name),
            })
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(allow: &[&str]) -> Modules {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        Modules::new(&ModulesConfig::new("https://esm.sh", &allow, None).unwrap()).unwrap()
    }

    #[test]
    fn specifiers_map_to_the_cdn_and_resolve_relative_to_the_referrer() {
        let m = modules(&[]);
        let r = |s: &str, from: &str| m.resolve(s, from).map(|u| u.to_string());
        assert_eq!(r("npm:lodash@4", "x").unwrap(), "https://esm.sh/lodash@4");
        assert_eq!(
            r("jsr:@std/path@1", "x").unwrap(),
            "https://esm.sh/jsr/@std/path@1"
        );
        assert_eq!(
            r("./b.js", "https://esm.sh/a/a.js").unwrap(),
            "https://esm.sh/a/b.js"
        );
        assert_eq!(
            r("/c.js", "https://esm.sh/a/a.js").unwrap(),
            "https://esm.sh/c.js"
        );
        assert!(r("./b.js", "<run>").unwrap_err().contains("no base URL"));
        assert!(r("lodash", "x").unwrap_err().contains("npm:lodash"));
    }

    #[test]
    fn the_allow_list_names_the_refused_host() {
        let m = modules(&["127.0.0.1:8000"]);
        assert!(
            m.check_allowed(&"https://esm.sh/x".parse().unwrap())
                .is_ok()
        );
        assert!(
            m.check_allowed(&"http://127.0.0.1:8000/x".parse().unwrap())
                .is_ok()
        );
        let e = m
            .check_allowed(&"http://127.0.0.1:8001/x".parse().unwrap())
            .unwrap_err();
        assert!(
            e.contains("127.0.0.1:8001 is not in --module-allow-host"),
            "{e}"
        );
        // deno.land is a default only when no list is given.
        assert!(
            m.check_allowed(&"https://deno.land/x".parse().unwrap())
                .is_err()
        );
        assert!(
            modules(&[])
                .check_allowed(&"https://deno.land/x".parse().unwrap())
                .is_ok()
        );
        assert!(
            m.check_allowed(&"file:///etc/passwd".parse().unwrap())
                .is_err()
        );
    }

    #[test]
    fn typescript_modules_are_stripped() {
        let l = to_loaded(
            &"http://h/m.ts".parse().unwrap(),
            "",
            "export const n: number = 1;".into(),
        )
        .unwrap();
        assert_eq!(l.kind, Kind::JavaScript);
        assert!(!l.code.contains("number"), "{}", l.code);
        assert!(!l.has_default);
        for (code, default) in [
            ("export default 1", true),
            ("const a = 1; export { a as default }", true),
            ("export { default } from './x.js'", true),
            ("export * from './x.js'; export const b = 2", false),
        ] {
            assert_eq!(has_default_export(code), default, "{code}");
        }
    }
}
