//! Pure helpers of the fake API server: splitting request paths into collection and name,
//! collection membership across namespaces, label selector and query parsing, and the
//! approximation of server-side apply it uses.

use serde_json::{Value, json};

/// Splits `/…/namespaces/ns/plural/name[/status]` into (collection path, name, is_status).
pub fn split(path: &str) -> (String, Option<String>, bool) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let base = if parts.first() == Some(&"api") { 2 } else { 3 };
    let (coll_len, has_name) = if parts.get(base) == Some(&"namespaces") {
        (base + 3, parts.len() > base + 3)
    } else {
        (base + 1, parts.len() > base + 1)
    };
    let collection = format!("/{}", parts[..coll_len.min(parts.len())].join("/"));
    let name = has_name.then(|| parts[coll_len].to_string());
    let is_status = parts.len() > coll_len + 1 && parts[coll_len + 1] == "status";
    (collection, name, is_status)
}

/// Whether the object stored under `key` belongs to `collection` (namespaced, or all
/// namespaces when the collection path has none).
pub fn in_collection(key: &str, collection: &str) -> bool {
    let (coll, _, _) = split(key);
    if coll == collection {
        return true;
    }
    if collection.contains("/namespaces/") {
        return false;
    }
    // `/apis/g/v/plural` matches `/apis/g/v/namespaces/ns/plural`.
    let (prefix, plural) = collection.rsplit_once('/').unwrap_or(("", collection));
    coll.starts_with(&format!("{prefix}/namespaces/")) && coll.ends_with(&format!("/{plural}"))
}

pub fn labels_match(obj: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|pair| match pair.split_once('=') {
            Some((k, v)) => {
                obj["metadata"]["labels"][k].as_str() == Some(v.trim_start_matches('='))
            }
            None => true,
        })
}

pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Server-side apply, approximated: the applied object replaces the fields it sets (the
/// operator always applies whole objects), while server-owned metadata and, for the main
/// resource, the status survive. Applying to `/status` replaces only the status.
pub fn server_side_apply(existing: Option<Value>, applied: Value, is_status: bool) -> Value {
    let Some(mut old) = existing else {
        let mut obj = applied;
        obj["metadata"]["generation"] = json!(1);
        return obj;
    };
    if is_status {
        old["status"] = applied["status"].clone();
        return old;
    }
    let mut obj = applied;
    for key in [
        "uid",
        "creationTimestamp",
        "finalizers",
        "deletionTimestamp",
    ] {
        if !old["metadata"][key].is_null() {
            obj["metadata"][key] = old["metadata"][key].clone();
        }
    }
    let spec_changed = obj["spec"] != old["spec"] || obj["data"] != old["data"];
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    obj["metadata"]["generation"] = json!(if spec_changed {
        generation + 1
    } else {
        generation
    });
    if !old["status"].is_null() {
        obj["status"] = old["status"].clone();
    }
    obj
}
