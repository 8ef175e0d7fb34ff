//! The registry against a real database in a temp dir.

use super::*;

fn finished(id: &str) -> Record {
    Record {
        execution_id: id.into(),
        status: ExecStatus::Completed,
        result: Some("1".into()),
        error: None,
        heap: None,
        started_at: now_rfc3339(),
        completed_at: None,
        session: None,
    }
}

#[tokio::test]
async fn finished_runs_persist_with_output_and_the_oldest_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_records: 3,
        max_age_secs: 3600,
    };
    let mut ids = Vec::new();
    {
        let reg = Registry::open(dir.path(), retention, "node7", 7).unwrap();
        for i in 0..10 {
            let (id, live) = reg.insert(None, None);
            assert!(
                id.starts_with("node7.7.") && owner_raft_id(&id) == Some(7),
                "{id}"
            );
            reg.console(&id, &live, &format!("out {i}\nsecond"));
            reg.finish(&id, &live, finished(&id)).await;
            ids.push(id);
        }
        let list = reg.list(None, 100, None).await.unwrap();
        let kept: Vec<_> = list.iter().map(|r| r.execution_id.clone()).collect();
        assert_eq!(kept, ids[7..].iter().rev().cloned().collect::<Vec<_>>());
    }
    let reg = Registry::open(dir.path(), retention, "node7", 7).unwrap();
    let (rec, _) = reg.get(&ids[9]).await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.completed_at.is_some()),
        (ExecStatus::Completed, true)
    );
    let page = reg
        .output(
            &ids[9],
            Window::Lines {
                offset: 1,
                limit: 5,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((page.data.as_str(), page.total_lines), ("second\n", 2));
    assert!(reg.get(&ids[0]).await.unwrap().is_none(), "pruned");
}

#[test]
fn ids_are_checked_before_use() {
    assert!(validate_id("node1.0.0123abcd").is_ok());
    for bad in ["", "../etc", "a/b", &"x".repeat(301), "a b"] {
        assert!(validate_id(bad).is_err(), "{bad}");
    }
    assert_eq!(owner_raft_id("mcp-v8-2.3.abc"), Some(3));
    assert_eq!(owner_raft_id("garbage"), None);
}
