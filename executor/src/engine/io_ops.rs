//! The ops behind `fetch()` and `fs`. Each checks, at call time, that this server
//! enables it: heaps are shared between servers with different settings, and a
//! function kept in a heap must not open a gate the current server keeps shut.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{JsBuffer, OpState, ToJsBuffer, op2};
use deno_error::JsErrorBox;
use serde::{Deserialize, Serialize};

use crate::io::fetch::{Fetcher, Redirect, Request};
use crate::io::fs::{self, Outcome, Policy};

/// The gates of this worker, put in every isolate's op state.
#[derive(Clone, Default)]
pub struct Gates {
    pub fetch: Option<Rc<Fetcher>>,
    pub fs: Option<Rc<Policy>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchArgs {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    redirect: Redirect,
    has_body: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchReply {
    status: u16,
    status_text: String,
    url: String,
    redirected: bool,
    headers: Vec<(String, String)>,
    body: ToJsBuffer,
}

#[op2]
#[serde]
pub async fn op_mcp_fetch(
    state: Rc<RefCell<OpState>>,
    #[serde] args: FetchArgs,
    #[buffer] body: JsBuffer,
) -> Result<FetchReply, JsErrorBox> {
    let fetcher = state
        .borrow()
        .try_borrow::<Gates>()
        .and_then(|g| g.fetch.clone())
        .ok_or_else(|| {
            JsErrorBox::type_error("fetch is not enabled on this server (it needs --opa-url)")
        })?;
    let req = Request {
        url: args.url,
        method: args.method,
        headers: args.headers,
        body: args.has_body.then(|| body.to_vec()),
        redirect: args.redirect,
    };
    let reply = fetcher.fetch(req).await.map_err(JsErrorBox::type_error)?;
    Ok(FetchReply {
        status: reply.status,
        status_text: reply.status_text,
        url: reply.url,
        redirected: reply.redirected,
        headers: reply.headers,
        body: reply.body.into(),
    })
}

#[derive(Serialize)]
pub struct FsReply {
    value: serde_json::Value,
    bytes: Option<ToJsBuffer>,
}

// op2 hands serde arguments over by value.
#[allow(clippy::needless_pass_by_value)]
#[op2]
#[serde]
pub fn op_mcp_fs(
    state: &mut OpState,
    #[serde] call: fs::Call,
    #[buffer] data: &[u8],
    has_bytes: bool,
) -> Result<FsReply, JsErrorBox> {
    let policy = state
        .try_borrow::<Gates>()
        .and_then(|g| g.fs.clone())
        .ok_or_else(|| {
            JsErrorBox::generic("fs is not enabled on this server (it needs --policies-json)")
        })?;
    match fs::run(&policy, &call, has_bytes.then_some(data)).map_err(JsErrorBox::generic)? {
        Outcome::Json(value) => Ok(FsReply { value, bytes: None }),
        Outcome::Bytes(b) => Ok(FsReply {
            value: serde_json::Value::Null,
            bytes: Some(b.into()),
        }),
    }
}
