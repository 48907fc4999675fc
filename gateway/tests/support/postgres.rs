//! A real PostgreSQL server for tests: Debian's `postgresql` binaries (installed by
//! `scripts/setup`), a fresh cluster in a temporary directory, listening on 127.0.0.1 only,
//! stopped when dropped. As root the server runs as the `postgres` user (initdb refuses root).
//! `TELEMETRY_TEST_PG_BIN` may name the directory holding `initdb` and `pg_ctl`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub url: String,
    /// The port.
    pub port: u16,
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("TELEMETRY_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup, \
             or set TELEMETRY_TEST_PG_BIN"
        )
    })
}

fn is_root() -> bool {
    // SAFETY-free check: `id -u` prints 0 for root.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(as_postgres: bool, program: &Path, args: &[&str]) {
    let out = if as_postgres {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args)
            .output()
    } else {
        Command::new(program).args(args).output()
    }
    .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {:?} failed: {}{}",
        program.display(),
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Initializes and starts a cluster (about a second).
    pub fn start() -> PgServer {
        let bin = pg_bin();
        let dir = tempfile::Builder::new().prefix("tg-pg-").tempdir().unwrap();
        let as_postgres = is_root();
        let data = dir.path().join("data");
        if as_postgres {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
        }
        run(
            as_postgres,
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=60",
                dir.path().display()
            );
            let out = if as_postgres {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(bin.join("pg_ctl"))
                    .args([
                        "-D",
                        data.to_str().unwrap(),
                        "-w",
                        "-t",
                        "30",
                        "-o",
                        &opts,
                        "-l",
                    ])
                    .arg(dir.path().join("log"))
                    .arg("start")
                    .output()
            } else {
                Command::new(bin.join("pg_ctl"))
                    .args([
                        "-D",
                        data.to_str().unwrap(),
                        "-w",
                        "-t",
                        "30",
                        "-o",
                        &opts,
                        "-l",
                    ])
                    .arg(dir.path().join("log"))
                    .arg("start")
                    .output()
            }
            .unwrap();
            if out.status.success() {
                return PgServer {
                    url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    port,
                    dir,
                    bin,
                    as_postgres,
                };
            }
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Runs SQL with a fresh connection.
    pub async fn execute(&self, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        let _ = task.await;
    }

    /// One value of a query.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        let v: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
        drop(client);
        let _ = task.await;
        v
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let args = [
            "-D",
            data.to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(args)
                .output()
        } else {
            Command::new(self.bin.join("pg_ctl")).args(args).output()
        };
    }
}
