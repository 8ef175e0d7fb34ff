//! The policy-gated `fs` global's host side. Every call is decided in-process by the
//! configured Rego policy (regorus) before it touches the disk, on normalised
//! absolute paths; when a symbolic link makes the real path differ, the real path
//! must be allowed too, so a link cannot lead out of what the policy allowed.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use super::FsConfig;

/// A file read returns at most this much (the largest heap a run may have).
const MAX_READ_BYTES: u64 = 64 << 20;

pub struct Policy {
    engine: RefCell<regorus::Engine>,
    query: String,
}

impl Policy {
    pub fn compile(config: &FsConfig) -> Result<Self, String> {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy(config.rego_path.display().to_string(), config.rego.clone())
            .map_err(|e| {
                format!(
                    "the fs policy {} does not compile: {e}",
                    config.rego_path.display()
                )
            })?;
        Ok(Self {
            engine: RefCell::new(engine),
            query: config.query.clone(),
        })
    }

    fn allows(&self, input: &Value) -> Result<bool, String> {
        let mut engine = self.engine.borrow_mut();
        engine
            .set_input_json(&input.to_string())
            .map_err(|e| format!("fs policy input: {e}"))?;
        let v = engine
            .eval_rule(self.query.clone())
            .map_err(|e| format!("the fs policy failed to evaluate {}: {e}", self.query))?;
        Ok(v == regorus::Value::Bool(true))
    }
}

/// One call from JS.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Call {
    pub op: Op,
    pub path: String,
    pub destination: Option<String>,
    #[serde(default)]
    pub recursive: bool,
    pub encoding: Option<String>,
    /// Text for writeFile/appendFile (bytes come separately).
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    ReadFile,
    WriteFile,
    AppendFile,
    Readdir,
    Stat,
    Mkdir,
    Rm,
    Rename,
    CopyFile,
    Exists,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ReadFile => "readFile",
            Op::WriteFile => "writeFile",
            Op::AppendFile => "appendFile",
            Op::Readdir => "readdir",
            Op::Stat => "stat",
            Op::Mkdir => "mkdir",
            Op::Rm => "rm",
            Op::Rename => "rename",
            Op::CopyFile => "copyFile",
            Op::Exists => "exists",
        }
    }

    /// Ops acting on a link itself rather than what it points to.
    fn on_link(self) -> bool {
        matches!(self, Op::Rm | Op::Rename | Op::Exists)
    }
}

pub enum Outcome {
    Json(Value),
    Bytes(Vec<u8>),
}

/// Lexically normalised absolute path: `.` dropped, `..` applied, never above `/`.
pub fn normalise(p: &str) -> Result<PathBuf, String> {
    if p.contains('\0') {
        return Err("fs: a path cannot contain NUL".into());
    }
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(format!("fs: {p:?} is not an absolute path"));
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Where `norm` really is: the deepest existing ancestor canonicalised, the rest
/// appended. The last component is followed only when `follow_last`.
fn real(norm: &Path, follow_last: bool) -> PathBuf {
    let (Some(parent), Some(last)) = (norm.parent(), norm.file_name()) else {
        return norm.to_path_buf();
    };
    if follow_last && let Ok(c) = std::fs::canonicalize(norm) {
        return c;
    }
    let mut existing = parent.to_path_buf();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        match (
            existing.file_name().map(|s| s.to_owned()),
            existing.parent(),
        ) {
            (Some(name), Some(up)) => {
                rest.push(name);
                existing = up.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out.push(last);
    out
}

pub fn run(policy: &Policy, call: &Call, bytes: Option<&[u8]>) -> Result<Outcome, String> {
    let op = call.op;
    let path = normalise(&call.path)?;
    let dest = call.destination.as_deref().map(normalise).transpose()?;
    let input = |p: &Path, d: Option<&Path>| {
        let mut i = json!({"operation": op.name(), "path": p.to_string_lossy()});
        if let Some(d) = d {
            i["destination"] = json!(d.to_string_lossy());
        }
        if matches!(op, Op::Mkdir | Op::Rm) {
            i["recursive"] = json!(call.recursive);
        }
        if let Some(e) = &call.encoding {
            i["encoding"] = json!(e);
        }
        i
    };
    let denied = || format!("fs.{}({}) denied by policy", op.name(), call.path);
    if !policy.allows(&input(&path, dest.as_deref()))? {
        return Err(denied());
    }
    let real_path = real(&path, !op.on_link());
    let real_dest = dest.as_deref().map(|d| real(d, false));
    if (real_path != path || real_dest != dest)
        && !policy.allows(&input(&real_path, real_dest.as_deref()))?
    {
        return Err(format!(
            "{} (a symbolic link leads outside what it allows)",
            denied()
        ));
    }
    let io = |e: std::io::Error| format!("fs.{}({}): {}", op.name(), call.path, describe(&e));
    let data = || -> &[u8] {
        bytes.unwrap_or_else(|| call.text.as_deref().unwrap_or_default().as_bytes())
    };
    let p = &real_path;
    Ok(match op {
        Op::ReadFile => {
            let meta = std::fs::metadata(p).map_err(io)?;
            if meta.len() > MAX_READ_BYTES {
                return Err(format!(
                    "fs.readFile({}): the file is larger than {MAX_READ_BYTES} bytes",
                    call.path
                ));
            }
            let content = std::fs::read(p).map_err(io)?;
            match call.encoding.as_deref() {
                Some("buffer") => Outcome::Bytes(content),
                None | Some("utf8" | "utf-8") => {
                    Outcome::Json(json!(String::from_utf8_lossy(&content)))
                }
                Some(other) => {
                    return Err(format!(
                        "fs.readFile: unsupported encoding {other:?} (use \"utf8\" or \"buffer\")"
                    ));
                }
            }
        }
        Op::WriteFile => {
            std::fs::write(p, data()).map_err(io)?;
            Outcome::Json(Value::Null)
        }
        Op::AppendFile => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(io)?;
            f.write_all(data()).map_err(io)?;
            Outcome::Json(Value::Null)
        }
        Op::Readdir => {
            let mut names: Vec<String> = std::fs::read_dir(p)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            Outcome::Json(json!(names))
        }
        Op::Stat => {
            let m = std::fs::metadata(p).map_err(io)?;
            let ms = |t: std::io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            };
            Outcome::Json(json!({
                "size": m.len(),
                "isFile": m.is_file(),
                "isDirectory": m.is_dir(),
                "isSymlink": std::fs::symlink_metadata(&path).is_ok_and(|l| l.file_type().is_symlink()),
                "mtimeMs": ms(m.modified()),
                "birthtimeMs": ms(m.created()),
            }))
        }
        Op::Mkdir => {
            if call.recursive {
                std::fs::create_dir_all(p).map_err(io)?;
            } else {
                std::fs::create_dir(p).map_err(io)?;
            }
            Outcome::Json(Value::Null)
        }
        Op::Rm => {
            let m = std::fs::symlink_metadata(p).map_err(io)?;
            if m.is_dir() {
                if call.recursive {
                    std::fs::remove_dir_all(p).map_err(io)?;
                } else {
                    std::fs::remove_dir(p).map_err(io)?;
                }
            } else {
                std::fs::remove_file(p).map_err(io)?;
            }
            Outcome::Json(Value::Null)
        }
        Op::Rename | Op::CopyFile => {
            let d = real_dest.ok_or_else(|| format!("fs.{} needs a destination", op.name()))?;
            if op == Op::Rename {
                std::fs::rename(p, &d).map_err(io)?;
            } else {
                std::fs::copy(p, &d).map_err(io)?;
            }
            Outcome::Json(Value::Null)
        }
        Op::Exists => Outcome::Json(json!(std::fs::symlink_metadata(p).is_ok())),
    })
}

fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or directory".into(),
        K::PermissionDenied => "permission denied".into(),
        K::AlreadyExists => "already exists".into(),
        K::DirectoryNotEmpty => "directory not empty (use recursive: true)".into(),
        K::IsADirectory => "is a directory".into(),
        K::NotADirectory => "not a directory".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
