//! The behaviour every `MetaStore` backend must show; each backend's test module runs
//! `run_all` against a fresh, empty store.

use mcp_v8_cluster::{MetaError, MetaStore, NewEntry, Tags};

pub fn heap(n: u32) -> String {
    format!("{n:064x}")
}

pub fn entry(
    session: &str,
    input: Option<u32>,
    output: u32,
    code: &str,
    owner: Option<&str>,
) -> NewEntry {
    NewEntry {
        session: session.into(),
        input_heap: input.map(heap),
        output_heap: heap(output),
        code: code.into(),
        owner: owner.map(str::to_string),
    }
}

pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs every case in order; names the failing case through the panic message.
pub async fn run_all(store: &dyn MetaStore) {
    session_log_is_ordered_and_indexed(store).await;
    session_names_match_exactly(store).await;
    owners_are_isolated(store).await;
    tags_set_replace_delete(store).await;
    tag_queries_use_every_pair(store).await;
    bad_input_is_refused_and_stores_nothing(store).await;
}

async fn session_log_is_ordered_and_indexed(store: &dyn MetaStore) {
    assert_eq!(
        store
            .append_entry(entry("chain", None, 1, "let a = 1", None))
            .await
            .unwrap(),
        0
    );
    for i in 1..5u32 {
        let idx = store
            .append_entry(entry("chain", Some(i), i + 1, &format!("a += {i}"), None))
            .await
            .unwrap();
        assert_eq!(idx, u64::from(i));
    }
    let entries = store.list_entries("chain", None).await.unwrap();
    assert_eq!(entries.len(), 5);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, i as u64);
        assert_eq!(e.output_heap, heap(i as u32 + 1));
        assert_eq!(e.session, "chain");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&e.timestamp).is_ok(),
            "{}",
            e.timestamp
        );
        assert!(e.timestamp.ends_with('Z'));
    }
    assert_eq!(entries[0].input_heap, None);
    assert_eq!(entries[3].code, "a += 3");
    let last = store.last_entry("chain", None).await.unwrap().unwrap();
    assert_eq!(last.index, 4);
    assert_eq!(last.output_heap, heap(5));
    assert!(store.last_entry("nope", None).await.unwrap().is_none());
    assert!(store.list_entries("nope", None).await.unwrap().is_empty());
}

async fn session_names_match_exactly(store: &dyn MetaStore) {
    store
        .append_entry(entry("a", None, 10, "a", None))
        .await
        .unwrap();
    store
        .append_entry(entry("ab", None, 11, "ab", None))
        .await
        .unwrap();
    store
        .append_entry(entry("a/b", None, 12, "a/b", None))
        .await
        .unwrap();
    store
        .append_entry(entry("ab", Some(11), 13, "ab2", None))
        .await
        .unwrap();
    let a = store.list_entries("a", None).await.unwrap();
    assert_eq!(a.len(), 1, "prefix of another session leaked in: {a:?}");
    assert_eq!(a[0].code, "a");
    let ab = store.list_entries("ab", None).await.unwrap();
    assert_eq!(
        ab.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(),
        ["ab", "ab2"]
    );
    let sessions = store.list_sessions(None).await.unwrap();
    assert_eq!(sessions, ["a", "a/b", "ab", "chain"]);
}

async fn owners_are_isolated(store: &dyn MetaStore) {
    store
        .append_entry(entry("shared-name", None, 20, "alice", Some("alice")))
        .await
        .unwrap();
    let i = store
        .append_entry(entry("shared-name", None, 21, "bob", Some("bob")))
        .await
        .unwrap();
    assert_eq!(i, 0, "each owner's session has its own log");
    assert_eq!(
        store.list_sessions(Some("alice")).await.unwrap(),
        ["shared-name"]
    );
    assert!(
        !store
            .list_sessions(None)
            .await
            .unwrap()
            .contains(&"shared-name".to_string())
    );
    let bob = store
        .list_entries("shared-name", Some("bob"))
        .await
        .unwrap();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].code, "bob");
    assert_eq!(bob[0].owner.as_deref(), Some("bob"));
    assert!(
        store
            .list_entries("chain", Some("alice"))
            .await
            .unwrap()
            .is_empty()
    );

    store
        .set_tags(&heap(20), tags(&[("env", "prod")]), Some("alice"))
        .await
        .unwrap();
    assert!(
        store
            .get_tags(&heap(20), Some("bob"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_tags(&heap(20), None).await.unwrap().is_empty());
    assert!(
        store
            .query_heaps(&tags(&[("env", "prod")]), Some("bob"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .query_heaps(&tags(&[("env", "prod")]), Some("alice"))
            .await
            .unwrap(),
        [heap(20)]
    );
}

async fn tags_set_replace_delete(store: &dyn MetaStore) {
    let h = heap(30);
    assert!(store.get_tags(&h, None).await.unwrap().is_empty());
    store
        .set_tags(&h, tags(&[("a", "1"), ("b", "2"), ("c", "3")]), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_tags(&h, None).await.unwrap(),
        tags(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
    // set replaces the whole map, as the original did
    store
        .set_tags(&h, tags(&[("a", "9"), ("d", "4")]), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_tags(&h, None).await.unwrap(),
        tags(&[("a", "9"), ("d", "4")])
    );
    assert!(
        store
            .query_heaps(&tags(&[("b", "2")]), None)
            .await
            .unwrap()
            .is_empty(),
        "stale index after replace"
    );
    assert!(
        store
            .query_heaps(&tags(&[("a", "1")]), None)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .delete_tags(&h, &["a".into(), "missing".into()], None)
        .await
        .unwrap();
    assert_eq!(store.get_tags(&h, None).await.unwrap(), tags(&[("d", "4")]));
    assert!(
        store
            .query_heaps(&tags(&[("a", "9")]), None)
            .await
            .unwrap()
            .is_empty(),
        "stale index after delete"
    );
    store.delete_tags(&h, &["d".into()], None).await.unwrap();
    assert!(store.get_tags(&h, None).await.unwrap().is_empty());
    // deleting from a heap without tags is a no-op, not an error
    store
        .delete_tags(&heap(31), &["x".into()], None)
        .await
        .unwrap();
}

async fn tag_queries_use_every_pair(store: &dyn MetaStore) {
    store
        .set_tags(&heap(40), tags(&[("proj", "x"), ("stage", "dev")]), None)
        .await
        .unwrap();
    store
        .set_tags(&heap(41), tags(&[("proj", "x"), ("stage", "prod")]), None)
        .await
        .unwrap();
    store
        .set_tags(&heap(42), tags(&[("proj", "y"), ("stage", "prod")]), None)
        .await
        .unwrap();
    store
        .set_tags(&heap(43), tags(&[("proj", "xx"), ("stage", "prod")]), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .query_heaps(&tags(&[("proj", "x")]), None)
            .await
            .unwrap(),
        [heap(40), heap(41)]
    );
    assert_eq!(
        store
            .query_heaps(&tags(&[("stage", "prod")]), None)
            .await
            .unwrap(),
        [heap(41), heap(42), heap(43)]
    );
    assert_eq!(
        store
            .query_heaps(&tags(&[("proj", "x"), ("stage", "prod")]), None)
            .await
            .unwrap(),
        [heap(41)]
    );
    assert!(
        store
            .query_heaps(&tags(&[("proj", "z")]), None)
            .await
            .unwrap()
            .is_empty()
    );
    let err = store.query_heaps(&Tags::new(), None).await.unwrap_err();
    assert_eq!(err.metric_label(), "invalid_input");
}

async fn bad_input_is_refused_and_stores_nothing(store: &dyn MetaStore) {
    let sessions_before = store.list_sessions(None).await.unwrap();
    let mut bad = entry("evil", None, 50, "x", None);
    bad.output_heap = "../../etc/passwd".into();
    assert!(matches!(
        store.append_entry(bad).await,
        Err(MetaError::InvalidHeapId(_))
    ));
    let mut bad = entry("evil", None, 50, "x", None);
    bad.input_heap = Some(heap(0xabcd).to_uppercase());
    assert!(matches!(
        store.append_entry(bad).await,
        Err(MetaError::InvalidHeapId(_))
    ));
    assert!(matches!(
        store.append_entry(entry("", None, 50, "x", None)).await,
        Err(MetaError::InvalidInput(_))
    ));
    assert!(matches!(
        store.set_tags("abc", tags(&[("k", "v")]), None).await,
        Err(MetaError::InvalidHeapId(_))
    ));
    assert!(matches!(
        store.get_tags("abc", None).await,
        Err(MetaError::InvalidHeapId(_))
    ));
    assert!(matches!(
        store.set_tags(&heap(51), tags(&[("", "v")]), None).await,
        Err(MetaError::InvalidInput(_))
    ));
    assert_eq!(store.list_sessions(None).await.unwrap(), sessions_before);
    assert!(store.get_tags(&heap(51), None).await.unwrap().is_empty());
}
