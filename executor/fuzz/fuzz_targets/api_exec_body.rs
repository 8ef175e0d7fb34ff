//! A `POST /api/exec` body through its decoding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mcp_v8_fuzz::decode_exec_body(data);
});
