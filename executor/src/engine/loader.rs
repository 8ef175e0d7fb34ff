//! Where `import` loads modules from: `data:` URLs decode in place (no I/O); every
//! other specifier goes through the controlled-I/O module fetcher ([`Modules`]):
//! `npm:`/`jsr:` mapped to the CDN, the host allow-list, size and time limits, the
//! cache.

use std::rc::Rc;

use base64::Engine as _;
use deno_core::error::ModuleLoaderError;
use deno_core::{
    ModuleLoadOptions, ModuleLoadReferrer, ModuleLoadResponse, ModuleLoader, ModuleSource,
    ModuleSourceCode, ModuleSpecifier, ModuleType, ResolutionKind,
};
use deno_error::JsErrorBox;

use crate::io::module_cache::Kind;
use crate::io::modules::Modules;

pub struct Loader {
    pub modules: Rc<Modules>,
}

/// Decodes the body of a `data:` URL (`data:[type][;base64],payload`).
pub fn decode_data_url(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("data:").ok_or("not a data: URL")?;
    let (meta, payload) = rest.split_once(',').ok_or("data: URL without a comma")?;
    let bytes = if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|e| format!("bad base64 in data: URL: {e}"))?
    } else {
        percent_encoding::percent_decode_str(payload).collect()
    };
    String::from_utf8(bytes).map_err(|_| "data: URL module is not UTF-8".to_owned())
}

impl ModuleLoader for Loader {
    fn resolve(
        &self,
        specifier: &str,
        referrer: &str,
        _kind: ResolutionKind,
    ) -> Result<ModuleSpecifier, ModuleLoaderError> {
        self.modules
            .resolve(specifier, referrer)
            .map_err(JsErrorBox::generic)
    }

    fn load(
        &self,
        specifier: &ModuleSpecifier,
        _referrer: Option<&ModuleLoadReferrer>,
        _options: ModuleLoadOptions,
    ) -> ModuleLoadResponse {
        if specifier.scheme() == "data" {
            let result = decode_data_url(specifier.as_str())
                .map(|code| {
                    ModuleSource::new(
                        ModuleType::JavaScript,
                        ModuleSourceCode::String(code.into()),
                        specifier,
                        None,
                    )
                })
                .map_err(JsErrorBox::generic);
            return ModuleLoadResponse::Sync(result);
        }
        if let Err(e) = self.modules.check_allowed(specifier) {
            return ModuleLoadResponse::Sync(Err(JsErrorBox::generic(e)));
        }
        let modules = self.modules.clone();
        let asked = specifier.clone();
        ModuleLoadResponse::Async(Box::pin(async move {
            let loaded = modules.load(&asked).await.map_err(JsErrorBox::generic)?;
            let found = ModuleSpecifier::parse(&loaded.final_url).map_err(JsErrorBox::from_err)?;
            let (kind, code) = match loaded.kind {
                // A redirected module is served as a wrapper re-exporting the final
                // URL rather than as deno_core's redirect alias, which its module
                // map bookkeeping for snapshots does not expect.
                Kind::JavaScript if found != asked => {
                    let target =
                        serde_json::to_string(found.as_str()).map_err(JsErrorBox::from_err)?;
                    let mut code = format!("export * from {target};\n");
                    if loaded.has_default {
                        code.push_str(&format!("export {{ default }} from {target};\n"));
                    }
                    return Ok(ModuleSource::new(
                        ModuleType::JavaScript,
                        ModuleSourceCode::String(code.into()),
                        &asked,
                        None,
                    ));
                }
                Kind::JavaScript => (ModuleType::JavaScript, loaded.code.clone()),
                Kind::Json => (ModuleType::Json, loaded.code.clone()),
            };
            Ok(ModuleSource::new_with_redirect(
                kind,
                ModuleSourceCode::String(code.into()),
                &asked,
                &found,
                None,
            ))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_decode_in_both_encodings() {
        assert_eq!(
            decode_data_url("data:text/javascript,export%20default%201").unwrap(),
            "export default 1"
        );
        assert_eq!(
            decode_data_url("data:text/javascript;base64,ZXhwb3J0IGRlZmF1bHQgMg==").unwrap(),
            "export default 2"
        );
        assert!(decode_data_url("data:text/javascript").is_err());
    }
}
