//! A POSTed `/mcp` body through JSON-RPC decoding and the tool-argument types.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mcp_v8_fuzz::decode_jsonrpc(data);
});
