fn main() {
    let _ = deno_core::JsRuntime::new(Default::default());
}
