//! HTTPS for browser tests that need a secure origin the browser trusts (DBSC will not run on
//! plain HTTP, nor with certificate errors ignored): a throwaway test CA made with `openssl`,
//! trusted in an NSS database under a temporary HOME (`certutil`, so the machine's own NSS
//! database is never touched), and nginx terminating TLS in front of the test server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// nginx on `https://localhost:PORT` in front of the test server, and the HOME whose NSS
/// database trusts its certificate.
pub struct Tls {
    nginx: Child,
    dir: TempDir,
    /// `https://localhost:PORT`.
    pub base: String,
}

impl Tls {
    /// The HOME to give chromedriver (and so Chromium): its `.pki/nssdb` trusts the test CA.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Makes the CA and certificate, the NSS database, and starts nginx proxying to
    /// `upstream_port`. `Err` names what is missing.
    pub async fn start(upstream_port: u16) -> Result<Tls, String> {
        for tool in ["openssl", "certutil", "nginx"] {
            if !on_path(tool) {
                return Err(format!(
                    "no `{tool}` on PATH (Debian: openssl, libnss3-tools, nginx)"
                ));
            }
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        let p = |name: &str| d.join(name).display().to_string();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(
            "openssl",
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    &p("ca.key"),
                    "-out",
                    &p("ca.pem"),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Latchkey test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        )?;
        run(
            "openssl",
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &p("server.key"),
                    "-out",
                    &p("server.csr"),
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        )?;
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &p("server.csr"),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
                "-out",
                &p("server.pem"),
                "-days",
                "2",
                "-extfile",
                &p("server.ext"),
            ],
        )?;
        let nssdb = d.join("home/.pki/nssdb");
        std::fs::create_dir_all(&nssdb).map_err(|e| e.to_string())?;
        let db = format!("sql:{}", nssdb.display());
        run("certutil", &["-d", &db, "-N", "--empty-password"])?;
        run(
            "certutil",
            &[
                "-d",
                &db,
                "-A",
                "-t",
                "C,,",
                "-n",
                "latchkey-test-ca",
                "-i",
                &p("ca.pem"),
            ],
        )?;

        let port = free_port();
        let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        });
        let conf = format!(
            "{user}worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {dir}/body;\n proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fcgi;\n uwsgi_temp_path {dir}/uwsgi;\n scgi_temp_path {dir}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name localhost;\n\
             ssl_certificate {dir}/server.pem;\n  ssl_certificate_key {dir}/server.key;\n\
             location / {{\n   proxy_pass http://127.0.0.1:{upstream_port};\n   proxy_http_version 1.1;\n\
             proxy_set_header Host $http_host;\n  }}\n }}\n}}\n",
            user = if root { "user root;\n" } else { "" },
            dir = d.display(),
        );
        std::fs::write(d.join("nginx.conf"), conf).map_err(|e| e.to_string())?;
        let nginx = Command::new("nginx")
            .args(["-c", &p("nginx.conf"), "-p", &p(""), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nginx does not start: {e}"))?;
        let tls = Tls {
            nginx,
            base: format!("https://localhost:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(tls.dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not listen: {log}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(tls)
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        // nginx's master, by the id we started it with; it ends its worker itself.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.nginx.id().to_string()])
            .status();
        let _ = self.nginx.wait();
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| Path::new(&dir).join(tool).is_file())
    })
}

fn run(tool: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| format!("{tool}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
