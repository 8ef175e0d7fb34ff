//! The web globals agents reach for, and nothing else from the host.

use crate::harness;

#[tokio::test(flavor = "multi_thread")]
async fn timers_run_in_order_and_can_be_cleared() {
    let h = harness::stateless().await;
    let code = "const seen = [];
        setTimeout(() => seen.push('b'), 200);
        setTimeout((x) => seen.push(x), 100, 'a');
        const t = setTimeout(() => seen.push('never'), 10); clearTimeout(t);
        let n = 0; const i = setInterval(() => { if (++n === 3) { clearInterval(i); seen.push('i3'); } }, 1);
        await new Promise(r => setTimeout(r, 300));
        seen.join(',')";
    assert_eq!(h.ok(code).await.0, "i3,a,b");
}

#[tokio::test(flavor = "multi_thread")]
async fn encoding_url_and_base64() {
    let h = harness::stateless().await;
    assert_eq!(
        h.ok("new TextDecoder().decode(new TextEncoder().encode('héllo ✓'))")
            .await
            .0,
        "héllo ✓"
    );
    assert_eq!(
        h.ok("Array.from(new TextEncoder().encode('é')).join()")
            .await
            .0,
        "195,169"
    );
    assert_eq!(h.ok("try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([0xff])) } catch (e) { e.name }").await.0, "TypeError");
    let url = "const u = new URL('../b/c?x=1&y=two#frag', 'https://user:pw@example.com:8443/a/z');
        u.searchParams.append('z', 'a b');
        [u.href, u.origin, u.host, u.pathname, u.search, u.hash, u.searchParams.get('y')].join('|')";
    assert_eq!(
        h.ok(url).await.0,
        "https://user:pw@example.com:8443/b/c?x=1&y=two&z=a+b#frag|https://example.com:8443|example.com:8443|/b/c|?x=1&y=two&z=a+b|#frag|two"
    );
    assert_eq!(
        h.ok("try { new URL('not a url') } catch (e) { e.name }")
            .await
            .0,
        "TypeError"
    );
    assert_eq!(
        h.ok("new URLSearchParams({a: '1', b: 'x y'}).toString()")
            .await
            .0,
        "a=1&b=x+y"
    );
    assert_eq!(
        h.ok("btoa('hello') + ' ' + atob('aGVsbG8=')").await.0,
        "aGVsbG8= hello"
    );
    assert_eq!(
        h.ok("try { atob('***') } catch (e) { e.name }").await.0,
        "InvalidCharacterError"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_crypto_and_performance() {
    let h = harness::stateless().await;
    let code = "const src = {d: new Date(0), m: new Map([[1, {x: 2}]])};
        const c = structuredClone(src);
        [c !== src, c.d.getTime(), c.m.get(1).x].join()";
    assert_eq!(h.ok(code).await.0, "true,0,2");
    let code = "const a = crypto.getRandomValues(new Uint8Array(32)); const b = crypto.getRandomValues(new Uint8Array(32));
        [a.some(x => x !== 0), a.join() !== b.join(), /^[0-9a-f-]{36}$/.test(crypto.randomUUID())].join()";
    assert_eq!(h.ok(code).await.0, "true,true,true");
    let code = "const t0 = performance.now(); await new Promise(r => setTimeout(r, 15)); performance.now() - t0 >= 10";
    assert_eq!(h.ok(code).await.0, "true");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_is_not_reachable() {
    let h = harness::stateless().await;
    let code = "[typeof Deno, typeof __bootstrap, typeof require, typeof process, typeof fetch,
        Object.getOwnPropertyNames(globalThis).filter(n => /deno|ops|bootstrap|__infra|__timers/i.test(n)).join('/')].join()";
    assert_eq!(
        h.ok(code).await.0,
        "undefined,undefined,undefined,undefined,undefined,"
    );
    // The engine helper is frozen and cannot be replaced.
    let code = "'use strict'; try { globalThis.__mcpV8 = 1; 'replaced' } catch (e) { Object.isFrozen(__mcpV8) ? 'frozen' : 'open' }";
    assert_eq!(h.ok(code).await.0, "frozen");
}

/// `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))`
pub const ADD_WASM: &str = "new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11])";

#[tokio::test(flavor = "multi_thread")]
async fn webassembly_works_stateless_and_stateful() {
    // Inside a function, so no instance stays reachable from the heap afterwards.
    let code = format!(
        "(async () => {{
            const bytes = {ADD_WASM};
            const sync = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.add(2, 3);
            const {{ instance }} = await WebAssembly.instantiate(bytes);
            const m = await WebAssembly.compile(bytes);
            return [WebAssembly.validate(bytes), sync, instance.exports.add(20, 22), WebAssembly.Module.exports(m)[0].name].join();
        }})()"
    );
    let h = harness::stateless().await;
    assert_eq!(h.ok(&code).await.0, "true,5,42,add");
    let h = harness::stateful().await;
    let (r, heap) = h.ok(&code).await;
    assert_eq!(r, "true,5,42,add");
    // The heap it produced restores, with WebAssembly still there.
    assert_eq!(
        h.ok_on(&heap.unwrap(), "typeof WebAssembly.Instance")
            .await
            .0,
        "function"
    );
}
