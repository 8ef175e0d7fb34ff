//! Turns the code of a run into one classic script that V8 evaluates on the run's heap.
//!
//! TypeScript types are removed with swc's type stripper (type removal only, so every
//! position stays where the user wrote it). Code that parses as a classic script runs
//! as-is: V8 keeps its top-level `var`/`let`/`const`/`function`/`class` in the global
//! scope, which the heap snapshot captures, and the script's completion value is the
//! value of the last expression. Code that needs module syntax (top-level `await`,
//! static `import`, `export`) is rewritten REPL-style: declarations are hoisted into
//! the script scope so they survive the run, the statements run inside an async
//! function whose promise is the result, and the last expression is returned.

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::{FileName, SourceMap, Spanned, sync::Lrc};
use swc_ecma_ast::{
    ClassDecl, Decl, DefaultDecl, ExportDecl, ImportSpecifier, Module, ModuleDecl,
    ModuleExportName, ModuleItem, Pat, Stmt, VarDecl, VarDeclKind,
};
use swc_ecma_parser::{Parser, StringInput, Syntax, TsSyntax};
use swc_ts_fast_strip::{Mode, Options};

/// A run's code could not be turned into a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SyntaxError: {message} ({line}:{column})")]
pub struct SyntaxError {
    pub message: String,
    /// 1-based line, 0-based column (as acorn and the original mcp-v8 report them).
    pub line: usize,
    pub column: usize,
}

/// The script to evaluate and whether its completion value is the async wrapper's promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub source: String,
    pub rewritten: bool,
}

type Diagnostics = Vec<(String, Option<swc_common::Span>)>;

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Diagnostics>>);

impl Emitter for Collect {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let span = db.span.primary_span();
        if let Ok(mut all) = self.0.lock() {
            all.push((db.message(), span));
        }
    }
}

/// Strip types and produce the script for `code`.
pub fn to_script(code: &str) -> Result<Script, SyntaxError> {
    swc_common::GLOBALS.set(&Default::default(), || {
        match strip(code, false) {
            // `await (x)` parses as a script calling a function named `await`;
            // a REPL means the top-level await it reads as.
            Ok(js) if super::toplevel_await::calls_await(&js) => {
                match strip(code, true).and_then(|m| rewrite_module(&m)) {
                    Ok(source) => Ok(Script {
                        source,
                        rewritten: true,
                    }),
                    Err(_) => Ok(Script {
                        source: js,
                        rewritten: false,
                    }),
                }
            }
            Ok(js) => Ok(Script {
                source: js,
                rewritten: false,
            }),
            Err(script_err) => match strip(code, true) {
                Ok(js) => rewrite_module(&js).map(|source| Script {
                    source,
                    rewritten: true,
                }),
                // The parse that got further is the better diagnosis.
                Err(module_err) => Err(furthest(script_err, module_err)),
            },
        }
    })
}

fn furthest(a: SyntaxError, b: SyntaxError) -> SyntaxError {
    if (b.line, b.column) > (a.line, a.column) {
        b
    } else {
        a
    }
}

/// Type-strips an imported TypeScript module (`.ts`, or `.tsx` whose syntax is
/// parsed as TSX; JSX itself is not transformed).
pub fn strip_module(code: &str, tsx: bool) -> Result<String, SyntaxError> {
    swc_common::GLOBALS.set(&Default::default(), || strip_with(code, true, tsx))
}

fn strip(code: &str, module: bool) -> Result<String, SyntaxError> {
    strip_with(code, module, false)
}

fn strip_with(code: &str, module: bool, tsx: bool) -> Result<String, SyntaxError> {
    let cm: Lrc<SourceMap> = Default::default();
    let collect = Collect::default();
    let handler = Handler::with_emitter(false, false, Box::new(collect.clone()));
    let options = Options {
        module: Some(module),
        mode: Mode::StripOnly,
        parser: TsSyntax {
            tsx,
            decorators: true,
            ..Default::default()
        },
        ..Default::default()
    };
    match swc_ts_fast_strip::operate(&cm, &handler, code.to_owned(), options) {
        Ok(out) => Ok(out.code),
        Err(e) => {
            let first = collect.0.lock().ok().and_then(|d| d.first().cloned());
            Err(match first {
                Some((message, span)) => syntax_error(&cm, message, span),
                None => SyntaxError {
                    message: e.message,
                    line: 1,
                    column: 0,
                },
            })
        }
    }
}

fn syntax_error(cm: &SourceMap, message: String, span: Option<swc_common::Span>) -> SyntaxError {
    let (line, column) = span
        .map(|s| {
            let loc = cm.lookup_char_pos(s.lo);
            (loc.line, loc.col.0)
        })
        .unwrap_or((1, 0));
    SyntaxError {
        message,
        line,
        column,
    }
}

pub(crate) fn parse_module(js: &str) -> Result<(Module, u32), SyntaxError> {
    let cm: Lrc<SourceMap> = Default::default();
    let fm = cm.new_source_file(FileName::Anon.into(), js.to_owned());
    let mut parser = Parser::new(
        Syntax::Es(Default::default()),
        StringInput::from(&*fm),
        None,
    );
    let module = parser
        .parse_module()
        .map_err(|e| syntax_error(&cm, e.kind().msg().into_owned(), Some(e.span())))?;
    if let Some(e) = parser.take_errors().into_iter().next() {
        return Err(syntax_error(
            &cm,
            e.kind().msg().into_owned(),
            Some(e.span()),
        ));
    }
    Ok((module, fm.start_pos.0))
}

/// Rewrites module code into a script; see the module docs for the shape.
fn rewrite_module(js: &str) -> Result<String, SyntaxError> {
    let (module, base) = parse_module(js)?;
    let mut w = Rewriter {
        src: js,
        base,
        out: String::new(),
        pos: 0,
        hoisted_var: vec![],
        hoisted_let: vec![],
        functions: String::new(),
        imports: 0,
    };
    let last_expr = module
        .body
        .iter()
        .rposition(|i| matches!(i, ModuleItem::Stmt(Stmt::Expr(_))));
    let last_index = module.body.len().checked_sub(1);
    for (i, item) in module.body.iter().enumerate() {
        let returns = last_expr == Some(i) && last_index == Some(i);
        w.item(item, returns);
    }
    w.out.push_str(&js[w.pos..]);
    let mut prefix = String::new();
    if !w.hoisted_var.is_empty() {
        prefix.push_str(&format!("var {}; ", w.hoisted_var.join(", ")));
    }
    if !w.hoisted_let.is_empty() {
        prefix.push_str(&format!("let {}; ", w.hoisted_let.join(", ")));
    }
    // Everything stays on the user's lines: the prefix shares line 1, functions go last
    // (declarations hoist, so the async body still sees them).
    Ok(format!(
        "{prefix}(async () => {{{}\n}})();{}",
        w.out, w.functions
    ))
}

struct Rewriter<'a> {
    src: &'a str,
    base: u32,
    out: String,
    pos: usize,
    hoisted_var: Vec<String>,
    hoisted_let: Vec<String>,
    functions: String,
    imports: usize,
}

impl Rewriter<'_> {
    fn range(&self, span: swc_common::Span) -> (usize, usize) {
        (
            (span.lo.0 - self.base) as usize,
            (span.hi.0 - self.base) as usize,
        )
    }

    /// Replaces the source of `span` with `text`, keeping its line breaks.
    fn replace(&mut self, span: swc_common::Span, text: &str) {
        let (lo, hi) = self.range(span);
        self.out.push_str(&self.src[self.pos..lo]);
        self.out.push_str(text);
        let newlines = self.src[lo..hi]
            .matches('\n')
            .count()
            .saturating_sub(text.matches('\n').count());
        self.out.push_str(&"\n".repeat(newlines));
        self.pos = hi;
    }

    fn text(&self, span: swc_common::Span) -> &str {
        let (lo, hi) = self.range(span);
        &self.src[lo..hi]
    }

    fn item(&mut self, item: &ModuleItem, returns: bool) {
        match item {
            ModuleItem::ModuleDecl(ModuleDecl::Import(import)) => {
                let binding = format!("__mcp_import{}", self.imports);
                self.imports += 1;
                let mut text = format!(
                    "const {binding} = await import({});",
                    self.text(import.src.span())
                );
                for spec in &import.specifiers {
                    let (local, from) = match spec {
                        ImportSpecifier::Default(d) => {
                            (d.local.sym.to_string(), format!("{binding}.default"))
                        }
                        ImportSpecifier::Namespace(n) => (n.local.sym.to_string(), binding.clone()),
                        ImportSpecifier::Named(n) => {
                            let imported = match &n.imported {
                                Some(ModuleExportName::Ident(i)) => i.sym.to_string(),
                                Some(ModuleExportName::Str(s)) => {
                                    s.value.to_string_lossy().into_owned()
                                }
                                None => n.local.sym.to_string(),
                            };
                            (
                                n.local.sym.to_string(),
                                format!("{binding}[{}]", serde_json::Value::from(imported)),
                            )
                        }
                    };
                    text.push_str(&format!(" {local} = {from};"));
                    // `var`: re-importing the same names in a later run is common and fine.
                    self.hoisted_var.push(local);
                }
                self.replace(import.span, &text);
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(ExportDecl { decl, span })) => {
                let (lo, _) = self.range(*span);
                let (dlo, _) = self.range(decl.span());
                self.out.push_str(&self.src[self.pos..lo]);
                self.out.push_str(&" ".repeat(dlo - lo));
                self.pos = dlo;
                self.decl(decl);
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultExpr(e)) => {
                let expr = self.text(e.expr.span()).to_owned();
                let text = if returns {
                    format!("return ({expr});")
                } else {
                    format!("({expr});")
                };
                self.replace(e.span, &text);
            }
            ModuleItem::ModuleDecl(ModuleDecl::ExportDefaultDecl(d)) => {
                let inner = match &d.decl {
                    DefaultDecl::Class(c) => c.class.span,
                    DefaultDecl::Fn(f) => f.function.span,
                    DefaultDecl::TsInterfaceDecl(i) => i.span,
                };
                let text = format!("({});", self.text(inner));
                self.replace(d.span, &text);
            }
            ModuleItem::ModuleDecl(other) => self.replace(other.span(), ""),
            ModuleItem::Stmt(Stmt::Decl(decl)) => self.decl(decl),
            ModuleItem::Stmt(Stmt::Expr(e)) if returns => {
                let text = format!("return ({});", self.text(e.expr.span()));
                self.replace(e.span, &text);
            }
            ModuleItem::Stmt(_) => {}
        }
    }

    fn decl(&mut self, decl: &Decl) {
        match decl {
            Decl::Var(var) => self.var(var),
            Decl::Fn(f) => {
                let text = self.text(f.function.span).to_owned();
                self.functions.push('\n');
                self.functions.push_str(&text);
                self.replace(f.function.span, "");
            }
            Decl::Class(ClassDecl { ident, class, .. }) => {
                let name = ident.sym.to_string();
                let text = format!("{name} = {};", self.text(class.span));
                self.hoisted_let.push(name);
                self.replace(class.span, &text);
            }
            _ => {}
        }
    }

    fn var(&mut self, var: &VarDecl) {
        let mut text = String::new();
        for d in &var.decls {
            let mut names = Vec::new();
            collect_names(&d.name, &mut names);
            match var.kind {
                VarDeclKind::Var => self.hoisted_var.extend(names),
                VarDeclKind::Let | VarDeclKind::Const => self.hoisted_let.extend(names),
            }
            if let Some(init) = &d.init {
                text.push_str(&format!(
                    "({} = {}); ",
                    self.text(d.name.span()),
                    self.text(init.span())
                ));
            }
        }
        self.replace(var.span, text.trim_end());
    }
}

fn collect_names(pat: &Pat, out: &mut Vec<String>) {
    match pat {
        Pat::Ident(i) => out.push(i.id.sym.to_string()),
        Pat::Array(a) => a.elems.iter().flatten().for_each(|p| collect_names(p, out)),
        Pat::Rest(r) => collect_names(&r.arg, out),
        Pat::Object(o) => {
            for prop in &o.props {
                match prop {
                    swc_ecma_ast::ObjectPatProp::KeyValue(kv) => collect_names(&kv.value, out),
                    swc_ecma_ast::ObjectPatProp::Assign(a) => out.push(a.key.sym.to_string()),
                    swc_ecma_ast::ObjectPatProp::Rest(r) => collect_names(&r.arg, out),
                }
            }
        }
        Pat::Assign(a) => collect_names(&a.left, out),
        Pat::Expr(_) | Pat::Invalid(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scripts_pass_through_and_types_are_stripped() {
        let s = to_script("let x: number = 1; x + 1").unwrap();
        assert!(!s.rewritten);
        assert_eq!(s.source.trim_end(), "let x         = 1; x + 1");
    }

    #[test]
    fn top_level_await_is_hoisted_and_last_expression_returned() {
        let s =
            to_script("const a = await 1;\nlet {b, c: [d]} = {b: 2, c: [3]};\na + b + d").unwrap();
        assert!(s.rewritten);
        assert!(
            s.source.starts_with("let a, b, d; (async () => {"),
            "{}",
            s.source
        );
        assert!(s.source.contains("(a = await 1);"), "{}", s.source);
        assert!(s.source.contains("return (a + b + d);"), "{}", s.source);
        assert_eq!(
            s.source.matches('\n').count(),
            3,
            "lines are preserved: {}",
            s.source
        );
    }

    #[test]
    fn imports_become_dynamic_imports_on_var_bindings() {
        let s =
            to_script("import def, { x as y } from 'data:text/javascript,export default 1';\ndef")
                .unwrap();
        assert!(s.source.starts_with("var def, y;"), "{}", s.source);
        assert!(
            s.source
                .contains("await import('data:text/javascript,export default 1')"),
            "{}",
            s.source
        );
    }

    #[test]
    fn functions_move_after_the_wrapper_and_classes_are_assigned() {
        let s = to_script("await 0;\nfunction f() { return 1 }\nclass C {}\nf()").unwrap();
        assert!(
            s.source.ends_with("\nfunction f() { return 1 }"),
            "{}",
            s.source
        );
        assert!(s.source.contains("C = class C {};"), "{}", s.source);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = to_script("let x = 1;\nlet y = ;").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8), "{e}");
        assert!(e.to_string().starts_with("SyntaxError: "), "{e}");
    }
}
