//! The run_js description as this server's I/O gates make it: it names only what
//! runs can really reach, so a model is not told about fetch on a server without it.

use super::tools::RUN_JS;

/// The run_js description for a server with these I/O gates: it names only what
/// runs can really reach.
pub fn run_js_text(io: &crate::io::IoConfig) -> String {
    let mut text = RUN_JS.to_owned();
    if io.fetch.is_some() {
        text.push_str(", fetch (every request is checked by the server's policy; denied requests reject with a TypeError)");
    }
    if io.fs.is_some() {
        text.push_str(", fs (readFile, writeFile, appendFile, readdir, stat, mkdir, rm, rename, copyFile, exists; absolute paths; all return promises; the server's policy decides each call)");
    }
    for m in &io.wasm {
        if m.instantiate {
            text.push_str(&format!(
                ", {name} (a preloaded WebAssembly module's exports, e.g. {name}.someExport(...); the compiled module is __wasm_{name})",
                name = m.name
            ));
        } else {
            text.push_str(&format!(
                ", __wasm_{} (a preloaded, compiled WebAssembly.Module with imports: instantiate it with new WebAssembly.Instance(__wasm_{}, imports))",
                m.name, m.name
            ));
        }
    }
    let hosts: Vec<String> = io.modules.allow.iter().map(ToString::to_string).collect();
    text.push_str(&format!(
        ". Imports: `import x from \"npm:pkg@version\"` (or jsr:, or a full URL) from {} only.",
        hosts.join(", ")
    ));
    if io.fetch.is_none() {
        text.push_str(" No fetch/network access");
        text.push_str(if io.fs.is_none() {
            ", no file system"
        } else {
            ""
        });
        text.push_str(", no process or environment access.");
    } else if io.fs.is_none() {
        text.push_str(" No file system, process or environment access.");
    } else {
        text.push_str(" No process or environment access.");
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::io::IoConfig;
    use crate::io::wasm::WasmModule;

    #[test]
    fn the_run_js_text_names_only_open_gates() {
        let plain = super::run_js_text(&IoConfig::default());
        assert!(
            plain.contains("No fetch/network access, no file system"),
            "{plain}"
        );
        assert!(plain.contains("from esm.sh, deno.land only"), "{plain}");
        let mut io = IoConfig::default();
        io.wasm.push(WasmModule {
            name: "sqlite".into(),
            path: "/x".into(),
            sha256: String::new(),
            instantiate: false,
        });
        let text = super::run_js_text(&io);
        assert!(
            text.contains("__wasm_sqlite (a preloaded, compiled WebAssembly.Module"),
            "{text}"
        );
        assert!(!text.contains("fetch (every request"), "{text}");
    }
}
