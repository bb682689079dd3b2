//! Fetching the windows file from IT's server (`--config https://…`): the
//! file and `URL.minisig`, at start and every `--refresh` seconds, on a
//! thread of its own so the daemon's loop never waits for the network.
//!
//! Requests are conditional (`If-None-Match` / `If-Modified-Since`), so a
//! fleet polling an unchanged file costs the server a `304` each. What was
//! fetched is only handed over: whether it is signed, new enough and
//! valid is judged by [`super::reload`] like a local file, and a fetch
//! that fails never changes what is in force.
//!
//! Failures are reported on transitions, not per attempt: the first
//! failure, a reminder every [`REMIND_EVERY`] while it lasts, and the
//! recovery. ureq (blocking, small, rustls: no OpenSSL to ship on
//! Windows) does the HTTP, with timeouts and a size limit.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::policy::trust::SIGNATURE_SUFFIX;

/// How often the server is asked when `--refresh` is not given.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// While the server stays unreachable, a reminder this often.
pub const REMIND_EVERY: Duration = Duration::from_secs(3600);
/// The longest a windows file (or signature) from the server may be.
const BODY_LIMIT: u64 = 1 << 20;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Every this many fetches, both files are asked for without condition:
/// a server's validators have a resolution of one second (nginx's ETag is
/// the modification second and the size), so a file replaced twice within
/// one second by one of the same size would otherwise never be seen.
const UNCONDITIONAL_EVERY: u64 = 12;

/// What the daemon was asked to fetch, and how.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The windows file's URL.
    pub url: String,
    /// How often to ask.
    pub refresh: Duration,
    /// IT's CA certificate(s) (PEM): then only a server certificate they
    /// issued is accepted; without it, the Mozilla roots built in.
    pub ca_cert: Option<Vec<u8>>,
}

/// A windows file and its signature as the server last served them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The signature's text; `None` when the server has none (404).
    pub signature: Option<String>,
}

/// A change in whether the server can be reached, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchReport {
    /// Fetching fails (first time, or a reminder).
    Failed {
        /// Why, as the last attempt said.
        reason: String,
        /// Failed attempts in a row so far.
        attempts: u32,
        /// When the first of them failed.
        since: Timestamp,
    },
    /// Fetching works again.
    Recovered {
        /// Failed attempts before this success.
        attempts: u32,
        /// When the first of them failed.
        since: Timestamp,
    },
}

#[derive(Default)]
struct Shared {
    latest: Option<Fetched>,
    reports: Vec<FetchReport>,
}

/// The fetching thread's results. Dropping it stops the thread (at its
/// next wake-up; a request under way finishes first).
pub struct Feed {
    shared: Arc<Mutex<Shared>>,
    _stop: mpsc::Sender<()>,
}

impl Feed {
    /// Starts fetching `remote` now and every `remote.refresh`.
    pub fn start(remote: Remote) -> Result<Feed, String> {
        let client = Client::new(&remote)?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (stop, stopped) = mpsc::channel::<()>();
        let s = shared.clone();
        std::thread::Builder::new()
            .name("varco-fetch".into())
            .spawn(move || fetch_loop(client, remote.refresh, &s, &stopped))
            .map_err(|e| format!("cannot start the fetching thread: {e}"))?;
        Ok(Feed {
            shared,
            _stop: stop,
        })
    }

    /// The file and signature last served, once something was fetched.
    pub fn latest(&self) -> Option<Fetched> {
        lock(&self.shared).latest.clone()
    }

    /// Reports made since the last call.
    pub fn take_reports(&self) -> Vec<FetchReport> {
        std::mem::take(&mut lock(&self.shared).reports)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One resource on the server, with what the last `200` said about it.
#[derive(Default)]
struct Resource {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    body: Option<Vec<u8>>,
}

/// HTTP for one URL and its signature.
struct Client {
    agent: ureq::Agent,
    file: Resource,
    signature: Resource,
    fetches: u64,
}

impl Client {
    fn new(remote: &Remote) -> Result<Client, String> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = &remote.ca_cert {
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(
                    "--ca-cert: no certificate in the file (a PEM file, -----BEGIN CERTIFICATE-----)"
                        .into(),
                );
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(format!("varco/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Client {
            agent,
            file: Resource {
                url: remote.url.clone(),
                ..Resource::default()
            },
            signature: Resource {
                url: format!("{}{SIGNATURE_SUFFIX}", remote.url),
                ..Resource::default()
            },
            fetches: 0,
        })
    }

    /// Asks for the file and its signature; both must answer (a missing
    /// signature is an answer: the file is unsigned, and will be refused
    /// as such).
    ///
    /// When one of the two changed, the other is asked for without
    /// condition: a web server's validators have a resolution of one
    /// second (nginx's ETag is mtime and size, and every signature has the
    /// same size), so a file re-signed within the second could otherwise
    /// be paired with a stale signature for good.
    fn fetch(&mut self) -> Result<Fetched, String> {
        let conditional = !self.fetches.is_multiple_of(UNCONDITIONAL_EVERY);
        self.fetches += 1;
        let (bytes, file_changed) = get(&self.agent, &mut self.file, conditional)?;
        let bytes = bytes.ok_or_else(|| format!("{}: not found (HTTP 404)", self.file.url))?;
        let (signature, sig_changed) = get(
            &self.agent,
            &mut self.signature,
            conditional && !file_changed,
        )?;
        let bytes = if sig_changed && !file_changed {
            get(&self.agent, &mut self.file, false)?
                .0
                .ok_or_else(|| format!("{}: not found (HTTP 404)", self.file.url))?
        } else {
            bytes
        };
        let signature = signature.map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(Fetched { bytes, signature })
    }
}

/// A GET, conditional when `conditional` and something was fetched
/// before: the body (new, or the one kept on `304`; `None` on `404`) and
/// whether it differs from the one before.
fn get(
    agent: &ureq::Agent,
    r: &mut Resource,
    conditional: bool,
) -> Result<(Option<Vec<u8>>, bool), String> {
    let before = r.body.clone();
    let body = get_body(agent, r, conditional)?;
    let changed = body != before;
    Ok((body, changed))
}

fn get_body(
    agent: &ureq::Agent,
    r: &mut Resource,
    conditional: bool,
) -> Result<Option<Vec<u8>>, String> {
    let mut req = agent.get(&r.url);
    if conditional && r.body.is_some() {
        if let Some(etag) = &r.etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = &r.last_modified {
            req = req.header("If-Modified-Since", lm);
        }
    }
    let mut resp = req.call().map_err(|e| format!("{}: {e}", r.url))?;
    match resp.status().as_u16() {
        304 if r.body.is_some() => Ok(r.body.clone()),
        200 => {
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (etag, last_modified) = (header("etag"), header("last-modified"));
            let body = resp
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(|e| format!("{}: {e}", r.url))?;
            r.etag = etag;
            r.last_modified = last_modified;
            r.body = Some(body.clone());
            Ok(Some(body))
        }
        404 => {
            *r = Resource {
                url: r.url.clone(),
                ..Resource::default()
            };
            Ok(None)
        }
        status => Err(format!("{}: the server answered HTTP {status}", r.url)),
    }
}

/// Whether the server is failing, and since when.
#[derive(Default)]
struct Outage {
    attempts: u32,
    since: Option<Timestamp>,
    last_report: Option<Instant>,
}

impl Outage {
    /// What to report after an attempt that ended as `result`.
    fn after(&mut self, result: &Result<Fetched, String>, now: Timestamp) -> Option<FetchReport> {
        match result {
            Ok(_) => {
                let report = self.since.map(|since| FetchReport::Recovered {
                    attempts: self.attempts,
                    since,
                });
                *self = Outage::default();
                report
            }
            Err(reason) => {
                self.attempts += 1;
                let since = *self.since.get_or_insert(now);
                let due = self.last_report.is_none_or(|t| t.elapsed() >= REMIND_EVERY);
                due.then(|| {
                    self.last_report = Some(Instant::now());
                    FetchReport::Failed {
                        reason: reason.clone(),
                        attempts: self.attempts,
                        since,
                    }
                })
            }
        }
    }
}

fn fetch_loop(
    mut client: Client,
    refresh: Duration,
    shared: &Mutex<Shared>,
    stopped: &mpsc::Receiver<()>,
) {
    let mut outage = Outage::default();
    loop {
        let result = client.fetch();
        let report = outage.after(&result, Timestamp::now());
        match &result {
            Ok(_) => tracing::debug!("fetched {}", client.file.url),
            // The record (and a warning) comes from the reload, once per
            // outage: not one line per attempt in the service log.
            Err(e) => tracing::debug!("cannot fetch the windows file: {e}"),
        }
        {
            let mut s = lock(shared);
            if let Ok(f) = result {
                s.latest = Some(f);
            }
            s.reports.extend(report);
        }
        match stopped.recv_timeout(refresh) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// Fetches `remote` once (for `varco check URL`).
pub fn fetch_once(remote: &Remote) -> Result<Fetched, String> {
    Client::new(remote)?.fetch()
}

/// Reads IT's CA certificate file for `--ca-cert`.
pub fn read_ca_cert(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_then_its_end() {
        let mut o = Outage::default();
        let now = Timestamp::UNIX_EPOCH;
        let down: Result<Fetched, String> = Err("connection refused".into());
        let first = o.after(&down, now);
        assert!(
            matches!(&first, Some(FetchReport::Failed { attempts: 1, .. })),
            "{first:?}"
        );
        for _ in 0..5 {
            assert_eq!(o.after(&down, now), None, "one report per outage");
        }
        let up = Ok(Fetched {
            bytes: Vec::new(),
            signature: None,
        });
        assert_eq!(
            o.after(&up, now),
            Some(FetchReport::Recovered {
                attempts: 6,
                since: now
            })
        );
        assert_eq!(o.after(&up, now), None, "nothing while it works");
    }
}
