use super::*;

fn policy(dir: &Path) -> Policy {
    let rego = format!(
        r#"package mcp.fs
default allow := false
allow if {{
    startswith(input.path, "{root}/")
    not input.destination
}}
allow if {{
    startswith(input.path, "{root}/")
    startswith(input.destination, "{root}/")
}}
allow if {{
    input.operation == "readFile"
    input.path == "{root}-public.txt"
}}
"#,
        root = dir.join("sandbox").display()
    );
    Policy::compile(&FsConfig {
        rego_path: "test.rego".into(),
        rego,
        query: "data.mcp.fs.allow".into(),
    })
    .unwrap()
}

fn call(op: Op, path: &Path) -> Call {
    Call {
        op,
        path: path.to_string_lossy().into_owned(),
        destination: None,
        recursive: false,
        encoding: None,
        text: None,
    }
}

#[test]
fn paths_normalise_and_must_be_absolute() {
    assert_eq!(normalise("/a/./b/../c").unwrap(), PathBuf::from("/a/c"));
    assert_eq!(
        normalise("/../../etc/passwd").unwrap(),
        PathBuf::from("/etc/passwd")
    );
    assert!(
        normalise("a/b")
            .unwrap_err()
            .contains("not an absolute path")
    );
    assert!(normalise("/a\0b").is_err());
}

#[test]
fn allowed_calls_work_and_binary_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let p = policy(tmp.path());
    let sb = tmp.path().join("sandbox");
    std::fs::create_dir(&sb).unwrap();
    let mut mk = call(Op::Mkdir, &sb.join("x/y"));
    mk.recursive = true;
    run(&p, &mk, None).unwrap();
    let f = sb.join("x/y/data.bin");
    let bytes: Vec<u8> = (0..=255).collect();
    run(&p, &call(Op::WriteFile, &f), Some(&bytes)).unwrap();
    let mut rd = call(Op::ReadFile, &f);
    rd.encoding = Some("buffer".into());
    match run(&p, &rd, None).unwrap() {
        Outcome::Bytes(b) => assert_eq!(b, bytes),
        Outcome::Json(v) => panic!("{v}"),
    }
    match run(&p, &call(Op::Readdir, &sb.join("x/y")), None).unwrap() {
        Outcome::Json(v) => assert_eq!(v, json!(["data.bin"])),
        Outcome::Bytes(_) => panic!(),
    }
}

#[test]
fn denials_traversal_and_symlink_escapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = policy(tmp.path());
    let sb = tmp.path().join("sandbox");
    std::fs::create_dir(&sb).unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "s3cret").unwrap();
    // Plain denial, and `..` that climbs out of the sandbox.
    let e = run(&p, &call(Op::ReadFile, &secret), None).err().unwrap();
    assert!(e.contains("denied by policy"), "{e}");
    let climb = format!("{}/../secret.txt", sb.display());
    let e = run(
        &p,
        &Call {
            path: climb,
            ..call(Op::ReadFile, &secret)
        },
        None,
    )
    .err()
    .unwrap();
    assert!(e.contains("denied"), "{e}");
    // A link inside the sandbox pointing out of it.
    std::os::unix::fs::symlink(&secret, sb.join("link")).unwrap();
    let e = run(&p, &call(Op::ReadFile, &sb.join("link")), None)
        .err()
        .unwrap();
    assert!(e.contains("symbolic link"), "{e}");
    std::os::unix::fs::symlink(tmp.path(), sb.join("up")).unwrap();
    let e = run(&p, &call(Op::WriteFile, &sb.join("up/new.txt")), Some(b"x"))
        .err()
        .unwrap();
    assert!(e.contains("symbolic link"), "{e}");
    assert!(!tmp.path().join("new.txt").exists());
    // Removing the link itself is fine; the target stays.
    run(&p, &call(Op::Rm, &sb.join("link")), None).unwrap();
    assert!(secret.exists());
    // A rename out of the sandbox is denied by the destination.
    std::fs::write(sb.join("a.txt"), "a").unwrap();
    let mut mv = call(Op::Rename, &sb.join("a.txt"));
    mv.destination = Some(secret.to_string_lossy().into_owned());
    assert!(run(&p, &mv, None).is_err());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret");
}
