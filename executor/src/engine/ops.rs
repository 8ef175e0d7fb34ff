//! The host functions the bootstrap JS builds the web globals on. Nothing here touches
//! files, the environment, the network or the process's stdout.

use std::time::Instant;

use base64::Engine as _;
use deno_core::{OpState, op2};
use serde::Serialize;

use crate::ipc::Stream;

/// Receives console lines of the current run, capped at `max_bytes`.
/// Where console lines go (the worker sends them to the server).
pub type ConsoleFn = Box<dyn FnMut(Stream, &str)>;

pub struct ConsoleSink {
    emit: ConsoleFn,
    used: usize,
    max_bytes: usize,
    truncated: bool,
}

impl ConsoleSink {
    pub fn new(max_bytes: usize, emit: ConsoleFn) -> Self {
        Self {
            emit,
            used: 0,
            max_bytes,
            truncated: false,
        }
    }

    fn line(&mut self, stream: Stream, text: &str) {
        if self.truncated {
            return;
        }
        if self.used + text.len() + 1 > self.max_bytes {
            self.truncated = true;
            let note = format!(
                "[console output truncated: this run exceeded {} bytes]",
                self.max_bytes
            );
            (self.emit)(Stream::Stderr, &note);
            return;
        }
        self.used += text.len() + 1;
        (self.emit)(stream, text);
    }
}

/// When the isolate was created; `performance.now()` counts from here.
pub struct TimeOrigin(pub Instant);

#[op2(fast)]
pub fn op_mcp_console(state: &mut OpState, #[smi] stream: u32, #[string] text: &str) {
    let stream = if stream == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    };
    if let Some(sink) = state.try_borrow_mut::<ConsoleSink>() {
        sink.line(stream, text);
    }
}

#[op2(fast)]
pub fn op_mcp_random_fill(#[buffer] buf: &mut [u8]) {
    // The OS generator never fails on Linux once booted; a zeroed buffer would be
    // a silent weakness, so fall back to per-byte std randomness instead.
    if getrandom::fill(buf).is_err() {
        for b in buf.iter_mut() {
            *b = rand_byte();
        }
    }
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u8
}

#[op2]
#[string]
pub fn op_mcp_random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[op2(fast)]
pub fn op_mcp_now(state: &mut OpState) -> f64 {
    state
        .try_borrow::<TimeOrigin>()
        .map_or(0.0, |t| t.0.elapsed().as_secs_f64() * 1000.0)
}

#[op2(fast)]
pub fn op_mcp_utf8_valid(#[buffer] bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

#[derive(Serialize)]
pub struct UrlParts {
    href: String,
    origin: String,
    protocol: String,
    username: String,
    password: String,
    host: String,
    hostname: String,
    port: String,
    pathname: String,
    search: String,
    hash: String,
}

fn parts(u: &url::Url) -> UrlParts {
    let search = u
        .query()
        .map(|q| format!("?{q}"))
        .filter(|q| q != "?")
        .unwrap_or_default();
    let hash = u
        .fragment()
        .map(|f| format!("#{f}"))
        .filter(|f| f != "#")
        .unwrap_or_default();
    UrlParts {
        href: u.as_str().to_owned(),
        origin: u.origin().ascii_serialization(),
        protocol: format!("{}:", u.scheme()),
        username: u.username().to_owned(),
        password: u.password().unwrap_or("").to_owned(),
        host: match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        },
        hostname: u.host_str().unwrap_or("").to_owned(),
        port: u.port().map(|p| p.to_string()).unwrap_or_default(),
        pathname: u.path().to_owned(),
        search,
        hash,
    }
}

#[op2]
#[serde]
pub fn op_mcp_url_parse(
    #[string] input: &str,
    #[string] base: &str,
    has_base: bool,
) -> Option<UrlParts> {
    let parsed = if has_base {
        url::Url::parse(base).ok()?.join(input).ok()?
    } else {
        url::Url::parse(input).ok()?
    };
    Some(parts(&parsed))
}

#[op2]
#[serde]
pub fn op_mcp_url_set(
    #[string] href: &str,
    #[string] part: &str,
    #[string] value: &str,
) -> Option<UrlParts> {
    if part == "href" {
        return url::Url::parse(value).ok().map(|u| parts(&u));
    }
    let mut u = url::Url::parse(href).ok()?;
    let strip = |v: &str, c: char| v.strip_prefix(c).unwrap_or(v).to_owned();
    // Setters that fail leave the URL unchanged, as the WHATWG setters do.
    let _ = match part {
        "protocol" => u.set_scheme(value.trim_end_matches(':')),
        "username" => u.set_username(value),
        "password" => u.set_password(Some(value)),
        "host" => {
            let (h, p) = value
                .rsplit_once(':')
                .map_or((value, None), |(h, p)| (h, p.parse().ok()));
            u.set_host(Some(h))
                .map_err(|_| ())
                .and_then(|()| u.set_port(p))
        }
        "hostname" => u.set_host(Some(value)).map_err(|_| ()),
        "port" => u.set_port(if value.is_empty() {
            None
        } else {
            value.parse().ok()
        }),
        "pathname" => {
            u.set_path(value);
            Ok(())
        }
        "search" => {
            let q = strip(value, '?');
            u.set_query(if q.is_empty() { None } else { Some(&q) });
            Ok(())
        }
        "hash" => {
            let f = strip(value, '#');
            u.set_fragment(if f.is_empty() { None } else { Some(&f) });
            Ok(())
        }
        _ => Err(()),
    };
    Some(parts(&u))
}

#[op2]
#[string]
pub fn op_mcp_btoa(#[string] latin1: &str) -> String {
    let bytes: Vec<u8> = latin1.chars().map(|c| c as u32 as u8).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[op2]
#[string]
pub fn op_mcp_atob(#[string] input: &str) -> Result<String, deno_error::JsErrorBox> {
    atob(input).ok_or_else(|| deno_error::JsErrorBox::generic("invalid base64"))
}

fn atob(input: &str) -> Option<String> {
    // The forgiving-base64 decode of the HTML spec: ASCII whitespace ignored,
    // padding optional.
    let mut clean: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r'))
        .collect();
    if clean.len().is_multiple_of(4) && clean.ends_with("==") {
        clean.truncate(clean.len() - 2);
    } else if clean.len().is_multiple_of(4) && clean.ends_with('=') {
        clean.truncate(clean.len() - 1);
    }
    if clean.len() % 4 == 1 || clean.contains('=') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(clean.as_bytes())
        .ok()?;
    Some(bytes.into_iter().map(char::from).collect())
}

deno_core::extension!(
    mcp_v8_runtime,
    ops = [
        op_mcp_console,
        op_mcp_random_fill,
        op_mcp_random_uuid,
        op_mcp_now,
        op_mcp_utf8_valid,
        op_mcp_url_parse,
        op_mcp_url_set,
        op_mcp_btoa,
        op_mcp_atob,
        super::io_ops::op_mcp_fetch,
        super::io_ops::op_mcp_fs,
    ],
    js = [dir "src/engine", "io.js", "wasm.js", "bootstrap.js"],
);
