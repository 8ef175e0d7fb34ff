//! Where `import` may load modules from. This engine resolves `data:` URL modules
//! (self-contained, no I/O); every other scheme is refused with a message naming it.
//! Remote imports through an allow-list belong to the controlled-I/O layer.

use base64::Engine as _;
use deno_core::error::ModuleLoaderError;
use deno_core::{
    ModuleLoadOptions, ModuleLoadReferrer, ModuleLoadResponse, ModuleLoader, ModuleSource,
    ModuleSourceCode, ModuleSpecifier, ModuleType, ResolutionKind, resolve_import,
};
use deno_error::JsErrorBox;

pub struct DataUrlLoader;

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

impl ModuleLoader for DataUrlLoader {
    fn resolve(
        &self,
        specifier: &str,
        referrer: &str,
        _kind: ResolutionKind,
    ) -> Result<ModuleSpecifier, ModuleLoaderError> {
        resolve_import(specifier, referrer).map_err(JsErrorBox::from_err)
    }

    fn load(
        &self,
        specifier: &ModuleSpecifier,
        _referrer: Option<&ModuleLoadReferrer>,
        _options: ModuleLoadOptions,
    ) -> ModuleLoadResponse {
        let result = if specifier.scheme() == "data" {
            decode_data_url(specifier.as_str())
                .map(|code| {
                    ModuleSource::new(
                        ModuleType::JavaScript,
                        ModuleSourceCode::String(code.into()),
                        specifier,
                        None,
                    )
                })
                .map_err(JsErrorBox::generic)
        } else {
            Err(JsErrorBox::generic(format!(
                "importing '{specifier}' is not allowed: this server loads only data: URL modules"
            )))
        };
        ModuleLoadResponse::Sync(result)
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
