//! The agent's Windows transport: a named pipe per session, created by the
//! agent (see `sys::windows::pipe` for its access list and the checks on
//! both ends). Started at every logon (HKLM Run key, set by `varco service
//! install` and the MSI), the agent shows each notice as a toast under
//! varco's AppUserModelID ([`crate::effect::notify::APP_ID`]).

use std::io::{BufRead, BufReader, Read, Write};

use super::protocol::{self, ANSWER_TIMEOUT, AgentError, Answer, MAX_LINE};
use crate::effect::notify::NotShown;
use crate::messages::{Notice, Texts};
use crate::sys;

/// Sends one request line to the agent of `session` and reads its answer
/// line. Blocking.
fn exchange(session: u32, request: &str) -> Result<(), NotShown> {
    let mut pipe = sys::connect_pipe(session).map_err(|e| NotShown::NoAgent {
        detail: format!("session {session}: {e}"),
    })?;
    let failed = |e: std::io::Error| NotShown::Failed {
        detail: format!("session {session}: {e}"),
    };
    pipe.write_all(request.as_bytes()).map_err(failed)?;
    let mut answer = String::new();
    BufReader::new(pipe.take(MAX_LINE))
        .read_line(&mut answer)
        .map_err(failed)?;
    protocol::read_answer(&answer)
}

/// [`exchange`] with a deadline: a stuck agent costs one parked thread,
/// never the notifications of the other sessions.
async fn exchange_within(session: u32, request: String) -> Result<(), NotShown> {
    let ask = tokio::task::spawn_blocking(move || exchange(session, &request));
    match tokio::time::timeout(ANSWER_TIMEOUT, ask).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(NotShown::Failed {
            detail: e.to_string(),
        }),
        Err(_) => Err(NotShown::Timeout),
    }
}

/// Sends `notice` to the agent of every session; returns how many showed
/// it, or why none did.
pub async fn broadcast(notice: &Notice) -> Result<usize, NotShown> {
    let request = protocol::request_line(notice)?;
    let mut shown = 0;
    let mut last = None;
    for session in sys::sessions() {
        match exchange_within(session, request.clone()).await {
            Ok(()) => shown += 1,
            Err(e) => {
                tracing::warn!("session {session} was not told: {e}");
                last = Some(e);
            }
        }
    }
    match (shown, last) {
        (0, Some(e)) => Err(e),
        (0, None) => Err(NotShown::NoAgent {
            detail: "no user session is open".into(),
        }),
        (n, _) => Ok(n),
    }
}

/// Sends a test notice to this session's agent and returns its answer.
pub fn test_notice() -> Result<Answer, String> {
    let session = sys::current_session().map_err(|e| e.to_string())?;
    let request = protocol::request_line(&Notice::test()).map_err(|e| e.to_string())?;
    Ok(Answer::of(exchange(session, &request)))
}

/// `varco agent`: listens on this session's pipe and answers each notice,
/// one client at a time, until the pipe fails.
pub fn serve(texts: Texts) -> Result<(), AgentError> {
    // Started at logon, the agent must not leave a console window on the
    // operator's screen.
    sys::drop_own_console();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let endpoint = sys::current_session()
        .map(sys::pipe_name)
        .unwrap_or_else(|_| "the session's pipe".into());
    let mut listener = sys::PipeListener::create().map_err(|source| AgentError::Listen {
        endpoint: endpoint.clone(),
        source,
    })?;
    tracing::info!("varco agent listening on {endpoint}");
    loop {
        let mut conn = listener.accept()?;
        let mut line = String::new();
        let answer = match BufReader::new((&mut conn).take(MAX_LINE)).read_line(&mut line) {
            Ok(_) => runtime.block_on(protocol::answer_line(line.trim_end(), &texts)),
            Err(e) => Answer::of(Err(NotShown::Failed {
                detail: e.to_string(),
            })),
        };
        let text = serde_json::to_string(&answer).unwrap_or_default();
        if let Err(e) = conn.write_all(format!("{text}\n").as_bytes()) {
            tracing::warn!("could not answer the service: {e}");
        }
    }
}
