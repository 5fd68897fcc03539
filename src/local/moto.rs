//! Finding (or installing) and running moto's server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// The moto release the project is tested with.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// A running moto server; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The `moto_server` to run: `$MOTO_SERVER`, else the one in `venv`, installing moto
/// there first if needed.
pub async fn ensure_installed(venv: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let server = venv.join("bin").join("moto_server");
    if server.exists() {
        return Ok(server);
    }
    eprintln!(
        "installing {MOTO_REQUIREMENT} into {} (first run only)…",
        venv.display()
    );
    if !venv.join("bin").join("pip").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv)).await?;
    }
    run(Command::new(venv.join("bin").join("pip")).args(["install", "--quiet", MOTO_REQUIREMENT]))
        .await?;
    if !server.exists() {
        bail!("moto installed, but {} is missing", server.display());
    }
    Ok(server)
}

async fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .await
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Starts moto on 127.0.0.1:`port` (0 picks a free port) and waits until it answers.
pub async fn start(server: &Path, port: u16) -> Result<Moto> {
    let port = if port == 0 { free_port()? } else { port };
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!(
            "port {port} is already in use (another local stack?); choose another with --moto-port"
        );
    }
    let mut command = Command::new(server);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    die_with_parent(&mut command);
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if let Some(status) = moto.child.try_wait()? {
            bail!("moto exited at start ({status}); is port {port} already in use?");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("moto did not start listening on port {port} within 15 s")
}

/// Makes moto exit when this process dies, however it dies (a killed test run or a
/// SIGKILLed `dev` must not leave a server holding the port).
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
