//! Test helpers: a temporary workplace and the real `statvault` binary.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The synthetic census's schema and its standard tables.
pub const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/census-albania/schema.toml"
);
pub const TABLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/census-albania/tables.toml"
);

/// `statvault census synth --persons N --seed S --out OUT`.
pub fn synth(persons: &str, seed: &str, out: &str) -> Run {
    run(&[
        "census",
        "synth",
        "--persons",
        persons,
        "--seed",
        seed,
        "--out",
        out,
    ])
}

/// The LD_PRELOAD fault injector (tests/tools/faultfs.c), built once per test process.
pub fn faultfs() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("faultfs-{}.so", std::process::id()));
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&out)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/faultfs.c"
            ))
            .arg("-ldl")
            .status()
            .expect("a C compiler (cc) builds the fault injector");
        assert!(status.success(), "building faultfs.so");
        out
    })
}

/// What faultfs does to a command: with `n` 0 it only counts (into `log`) the `op`
/// calls under `path`; otherwise it fails (mode `error`) or SIGKILLs before (mode
/// `kill`) the `n`th of them.
pub struct Fault<'a> {
    pub op: &'a str,
    pub n: usize,
    pub mode: &'a str,
    pub path: &'a Path,
    pub log: Option<&'a Path>,
}

impl<'a> Fault<'a> {
    /// Runs `cmd` once, failing nothing, and returns how many `op` calls it made
    /// under `path` (counted in `log`); the run must succeed.
    pub fn count(cmd: &mut Command, op: &str, path: &Path, log: &Path) -> usize {
        let _ = fs::remove_file(log);
        let count = Fault {
            op,
            n: 0,
            mode: "error",
            path,
            log: Some(log),
        };
        let out = count.inject(cmd).output().unwrap();
        assert!(
            out.status.success(),
            "without faults: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::read_to_string(log).unwrap_or_default().lines().count()
    }

    /// Runs `cmd` under the injector.
    pub fn inject<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("LD_PRELOAD", faultfs())
            .env("FAULT_OP", self.op)
            .env("FAULT_N", self.n.to_string())
            .env("FAULT_MODE", self.mode)
            .env("FAULT_PATH", self.path);
        if let Some(log) = self.log {
            cmd.env("FAULT_LOG", log);
        }
        cmd
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn statvault() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statvault"));
    cmd.env_remove("STATVAULT_SHARES")
        .env_remove("STATVAULT_REPO")
        .env_remove("STATVAULT_SIGNER_STATE")
        // The signer's records (one per key; every test's key is new) go to a scratch
        // directory, not the user's home.
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join("statvault-tests-state"),
        );
    cmd
}

/// Runs `statvault ARGS` with `stdin` as standard input.
pub fn run_with_input(cmd: &mut Command, stdin: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

pub fn run(args: &[&str]) -> Run {
    run_with_input(statvault().args(args), "")
}

/// A temporary directory holding a vault made with `custodians` shares, threshold `k`.
pub struct Workplace {
    pub dir: tempfile::TempDir,
    pub repo: String,
    pub shares: Vec<String>,
}

impl Workplace {
    pub fn new(custodians: u8, k: u8) -> Workplace {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo").display().to_string();
        let shares_dir = dir.path().join("shares").display().to_string();
        let r = run(&[
            "vault",
            "init",
            "--repo",
            &repo,
            "--custodians",
            &custodians.to_string(),
            "--threshold",
            &k.to_string(),
            "--shares-out",
            &shares_dir,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let shares = (1..=custodians)
            .map(|i| format!("{shares_dir}/custodian-{i}-of-{custodians}.share"))
            .collect();
        Workplace { dir, repo, shares }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `vault SUB --repo R --share S1 … ARGS`, with the first `n` shares.
    pub fn vault(&self, sub: &str, n: usize, args: &[&str]) -> Run {
        self.command(&["vault", sub], n, args)
    }

    /// `vault SUB --repo R --share S … ARGS` with the given share files.
    pub fn vault_with(&self, sub: &str, shares: &[&str], args: &[&str]) -> Run {
        self.command_with(&["vault", sub], shares, args)
    }

    /// `COMMAND… --repo R --share S1 … ARGS`, with the first `n` shares.
    pub fn command(&self, command: &[&str], n: usize, args: &[&str]) -> Run {
        let shares: Vec<&str> = self.shares[..n].iter().map(String::as_str).collect();
        self.command_with(command, &shares, args)
    }

    fn command_with(&self, command: &[&str], shares: &[&str], args: &[&str]) -> Run {
        let mut all = command.to_vec();
        all.extend(["--repo", &self.repo]);
        for s in shares {
            all.extend(["--share", s]);
        }
        all.extend_from_slice(args);
        run(&all)
    }
}

/// Every file under `root` with its bytes: to show that something wrote nothing.
pub fn tree_bytes(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(tree_bytes(&p));
            } else {
                out.push((p.clone(), fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Asserts two trees hold the same entries: kinds, bytes, modes, mtimes, link targets.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let mut names: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut other: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    other.sort();
    assert_eq!(
        names,
        other,
        "entries of {} and {}",
        a.display(),
        b.display()
    );
    for name in names {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", pb.display());
        assert_eq!(
            (ma.mtime(), ma.mtime_nsec()),
            (mb.mtime(), mb.mtime_nsec()),
            "mtime of {}",
            pb.display()
        );
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
            continue;
        }
        assert_eq!(ma.mode(), mb.mode(), "mode of {}", pb.display());
        if ma.is_dir() {
            assert_same_tree(&pa, &pb);
        } else {
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "content of {}",
                pb.display()
            );
        }
    }
}

/// `len` deterministic, incompressible bytes (xorshift64).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A serving command (`site serve`, `site mirror --serve`) in the background, killed
/// when dropped.
pub struct Server {
    child: std::process::Child,
    /// Where it listens, e.g. `http://127.0.0.1:40123`.
    pub url: String,
}

impl Server {
    /// Starts `cmd`, which must be given `--addr 127.0.0.1:0`, and waits (at most 30 s)
    /// for it to say on standard error which port it took.
    pub fn start(cmd: &mut Command) -> Server {
        use std::io::BufRead;
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so that the server never blocks on a full pipe.
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("open ") {
                    let _ = tx.send(rest.split('/').take(3).collect::<Vec<_>>().join("/"));
                }
            }
        });
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the server says where it listens");
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 30 s) until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing listens on port {port}");
}

/// The interpreter with the tests' PyPI packages (DuckDB, pyarrow, SciPy…), which
/// `scripts/test` installs into `target/test-venv`; `STATVAULT_PYTHON` names another.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STATVAULT_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "the tests' Python packages are missing: run scripts/test, which installs them into target/test-venv"
    );
    venv
}
