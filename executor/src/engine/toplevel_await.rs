//! Spotting top-level `await (…)` in code that also parses as a classic script.
//!
//! In a sloppy-mode script `await` is an ordinary identifier, so `await (p)` is a call
//! and `await (p)` would fail with "await is not defined". Inside async functions
//! `await` is a keyword and never an identifier, so an identifier named `await`
//! anywhere in the script AST means the author wrote a top-level await.

use swc_common::{FileName, SourceMap, sync::Lrc};
use swc_ecma_ast::Ident;
use swc_ecma_parser::{Parser, StringInput, Syntax};
use swc_ecma_visit::{Visit, VisitWith};

struct Find(bool);

impl Visit for Find {
    fn visit_ident(&mut self, i: &Ident) {
        if &*i.sym == "await" {
            self.0 = true;
        }
    }
}

/// Whether the (type-stripped) script uses `await` as an identifier.
pub fn calls_await(js: &str) -> bool {
    if !js.contains("await") {
        return false;
    }
    let cm: Lrc<SourceMap> = Lrc::default();
    let fm = cm.new_source_file(FileName::Anon.into(), js.to_owned());
    let mut parser = Parser::new(
        Syntax::Es(Default::default()),
        StringInput::from(&*fm),
        None,
    );
    let Ok(script) = parser.parse_script() else {
        return false;
    };
    let mut find = Find(false);
    script.visit_with(&mut find);
    find.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identifier_awaits_count() {
        assert!(calls_await("await (Promise.resolve(1))"));
        assert!(calls_await("const x = await (async () => 2)(); x"));
        assert!(!calls_await("async function f() { return await (g()) }"));
        assert!(!calls_await("const o = { await: 1 }; o.await"));
        assert!(!calls_await("1 + 1"));
    }
}
