//! `StoreArgs`: the storage flags shared by `mcp-v8` and `mcp-v8-store`, and their
//! validation into a `StoreConfig` (the original mcp-v8's conflicts plus the S3 and cache
//! options), with messages that name the flags.

use std::path::PathBuf;

use crate::cache::DEFAULT_CACHE_MAX_BYTES;
use crate::config::StoreConfig;
use crate::dir::DEFAULT_DIR;
use crate::error::StoreError;
use crate::s3::S3Config;

/// Heap storage flags (flatten into a clap `Parser` with `#[command(flatten)]`). Each
/// flag can also be set through `MCP_V8_<FLAG>`.
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreArgs {
    /// Directory for heap snapshots [default when no other storage flag: /tmp/mcp-v8-heaps]
    #[arg(long, env = "MCP_V8_DIRECTORY_PATH", value_name = "DIR")]
    pub directory_path: Option<PathBuf>,

    /// S3 bucket for heap snapshots (must exist; credentials and region from the AWS chain)
    #[arg(long, env = "MCP_V8_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// Local write-through cache directory in front of --s3-bucket
    #[arg(long, env = "MCP_V8_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Keep no heaps: every run starts fresh
    #[arg(long, env = "MCP_V8_STATELESS")]
    pub stateless: bool,

    /// Endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL or AWS)
    #[arg(long, env = "MCP_V8_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Key prefix of heap objects in the bucket [default: heaps]
    #[arg(long, env = "MCP_V8_S3_PREFIX", value_name = "PREFIX")]
    pub s3_prefix: Option<String>,

    /// Address the bucket as <endpoint>/<bucket> (most S3-compatible stores need this)
    #[arg(long, env = "MCP_V8_S3_FORCE_PATH_STYLE")]
    pub s3_force_path_style: bool,

    /// Bound of --cache-dir, in bytes or with a unit (512MiB, 2GiB) [default: 1GiB]
    #[arg(long, env = "MCP_V8_CACHE_MAX_BYTES", value_name = "BYTES", value_parser = parse_bytes)]
    pub cache_max_bytes: Option<u64>,
}

/// Parses a byte count: plain digits, or digits with K/M/G/T (powers of 1024), optionally
/// followed by `iB` or `B`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a byte count (e.g. 1073741824 or 1GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}: use B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn conflict(a: &str, b: &str, hint: &str) -> StoreError {
    StoreError::Config(format!("{a} cannot be used with {b}{hint}"))
}

impl StoreArgs {
    /// Checks the flag combination (the original mcp-v8's conflicts plus the S3 and
    /// cache options) and resolves defaults.
    pub fn validate(&self) -> Result<StoreConfig, StoreError> {
        let bucket = self
            .s3_bucket
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        if self.stateless {
            if bucket.is_some() {
                return Err(conflict(
                    "--stateless",
                    "--s3-bucket",
                    ": a stateless server stores no heaps",
                ));
            }
            if self.directory_path.is_some() {
                return Err(conflict(
                    "--stateless",
                    "--directory-path",
                    ": a stateless server stores no heaps",
                ));
            }
            if self.cache_dir.is_some() {
                return Err(conflict(
                    "--stateless",
                    "--cache-dir",
                    ": a stateless server stores no heaps",
                ));
            }
        }
        if self.cache_dir.is_some() && bucket.is_none() {
            return Err(StoreError::Config(
                "--cache-dir requires --s3-bucket (it caches S3 objects locally)".into(),
            ));
        }
        if self.directory_path.is_some() && bucket.is_some() {
            return Err(conflict(
                "--directory-path",
                "--s3-bucket",
                ": choose one store (use --cache-dir for a local cache in front of S3)",
            ));
        }
        if bucket.is_none() {
            for (set, flag) in [
                (self.s3_endpoint.is_some(), "--s3-endpoint"),
                (self.s3_prefix.is_some(), "--s3-prefix"),
                (self.s3_force_path_style, "--s3-force-path-style"),
            ] {
                if set {
                    return Err(StoreError::Config(format!("{flag} requires --s3-bucket")));
                }
            }
        }
        if self.cache_max_bytes.is_some() && self.cache_dir.is_none() {
            return Err(StoreError::Config(
                "--cache-max-bytes requires --cache-dir".into(),
            ));
        }
        if self.cache_max_bytes == Some(0) {
            return Err(StoreError::Config(
                "--cache-max-bytes must be greater than 0".into(),
            ));
        }
        if let Some(endpoint) = &self.s3_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(StoreError::Config(format!(
                "--s3-endpoint {endpoint:?} must be an http:// or https:// URL"
            )));
        }
        if self.stateless {
            return Ok(StoreConfig::Stateless);
        }
        let Some(bucket) = bucket else {
            let path = self
                .directory_path
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
            return Ok(StoreConfig::Dir { path });
        };
        let mut s3 = S3Config::new(bucket);
        if let Some(prefix) = &self.s3_prefix {
            s3.prefix = prefix.trim_matches('/').to_owned();
        }
        s3.endpoint = self.s3_endpoint.clone();
        s3.force_path_style = self.s3_force_path_style;
        Ok(match &self.cache_dir {
            None => StoreConfig::S3 { s3 },
            Some(dir) => StoreConfig::Cached {
                s3,
                cache_dir: dir.clone(),
                max_bytes: self.cache_max_bytes.unwrap_or(DEFAULT_CACHE_MAX_BYTES),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> StoreArgs {
        StoreArgs::default()
    }

    fn err(a: &StoreArgs) -> String {
        a.validate().unwrap_err().to_string()
    }

    #[test]
    fn no_flags_is_the_default_directory() {
        assert_eq!(
            args().validate().unwrap(),
            StoreConfig::Dir {
                path: DEFAULT_DIR.into()
            }
        );
    }

    #[test]
    fn rejects_the_original_conflicts_naming_the_flags() {
        let e = err(&StoreArgs {
            stateless: true,
            s3_bucket: Some("b".into()),
            ..args()
        });
        assert!(
            e.contains("--stateless") && e.contains("--s3-bucket"),
            "{e}"
        );
        let e = err(&StoreArgs {
            stateless: true,
            directory_path: Some("/x".into()),
            ..args()
        });
        assert!(
            e.contains("--stateless") && e.contains("--directory-path"),
            "{e}"
        );
        let e = err(&StoreArgs {
            cache_dir: Some("/c".into()),
            ..args()
        });
        assert!(
            e.contains("--cache-dir") && e.contains("--s3-bucket"),
            "{e}"
        );
        let e = err(&StoreArgs {
            directory_path: Some("/x".into()),
            s3_bucket: Some("b".into()),
            ..args()
        });
        assert!(
            e.contains("--directory-path") && e.contains("--s3-bucket"),
            "{e}"
        );
    }

    #[test]
    fn s3_and_cache_options_need_their_store() {
        let e = err(&StoreArgs {
            s3_endpoint: Some("http://x".into()),
            ..args()
        });
        assert!(e.contains("--s3-endpoint requires --s3-bucket"), "{e}");
        let e = err(&StoreArgs {
            s3_force_path_style: true,
            ..args()
        });
        assert!(e.contains("--s3-force-path-style"), "{e}");
        let e = err(&StoreArgs {
            s3_bucket: Some("b".into()),
            cache_max_bytes: Some(5),
            ..args()
        });
        assert!(e.contains("--cache-max-bytes requires --cache-dir"), "{e}");
        let e = err(&StoreArgs {
            s3_bucket: Some("b".into()),
            s3_endpoint: Some("localhost:9000".into()),
            ..args()
        });
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn resolves_s3_and_cached() {
        let a = StoreArgs {
            s3_bucket: Some("heaps".into()),
            s3_prefix: Some("/prod/".into()),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            s3_force_path_style: true,
            ..args()
        };
        let StoreConfig::S3 { s3 } = a.validate().unwrap() else {
            panic!("not s3")
        };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("heaps", "prod"));
        assert!(s3.force_path_style);
        let c = StoreArgs {
            cache_dir: Some("/c".into()),
            ..a
        };
        let StoreConfig::Cached {
            max_bytes,
            cache_dir,
            ..
        } = c.validate().unwrap()
        else {
            panic!("not cached")
        };
        assert_eq!(
            (max_bytes, cache_dir),
            (DEFAULT_CACHE_MAX_BYTES, PathBuf::from("/c"))
        );
        assert_eq!(
            StoreArgs {
                stateless: true,
                ..args()
            }
            .validate()
            .unwrap(),
            StoreConfig::Stateless
        );
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1 kb"), Ok(1024));
        assert!(parse_bytes("1.5G").is_err());
        assert!(parse_bytes("12parsecs").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }

    #[test]
    fn flags_and_env_parse_through_clap() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            store: StoreArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--s3-bucket",
            "b",
            "--cache-dir",
            "/c",
            "--cache-max-bytes",
            "64MiB",
            "--s3-force-path-style",
        ])
        .unwrap();
        assert_eq!(cli.store.cache_max_bytes, Some(64 << 20));
        assert!(cli.store.s3_force_path_style);
        assert!(matches!(
            cli.store.validate().unwrap(),
            StoreConfig::Cached {
                max_bytes: 67108864,
                ..
            }
        ));
    }
}
