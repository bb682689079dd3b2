//! Who connected, read from one line of a remote tool's own log. Pure:
//! a line in, the peers it names out.
//!
//! Formats covered, from public forensic write-ups of real logs:
//! - AnyDesk (`ad.trace`, `ad_svc.trace`; 6.x–9.x write the same layout:
//!   level, date, time, process tag, pids, module, ` - `, message):
//!   `info 2024-02-16 20:29:04.298  back  4668  6440  app.backend_session - Incoming session request: Richard Beard (221436813)`
//!   — the request, before anyone accepts it, with the peer's alias and
//!   ID; and `… - Accept request from 221436813` in the service trace.
//! - TeamViewer 15 (`TeamViewer15_Logfile.log`):
//!   `2024/06/28 20:23:37.280  3160  3604 S0   CPersistentParticipantManager::AddParticipant: [1651063400,876631011] type=6 name=Joe Doe | Pro IT Services`
//!   — the first number is the participant's TeamViewer ID. The
//!   workstation itself joins its own session as `type=3` and is not a
//!   peer; any other type is.

/// A remote tool whose log names its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// AnyDesk's trace files.
    AnyDesk,
    /// TeamViewer's log file.
    TeamViewer,
}

impl LogKind {
    /// The kind of log the catalog tool `id` writes, if varco can read it.
    pub fn of_tool(id: &str) -> Option<LogKind> {
        match id {
            "anydesk" => Some(LogKind::AnyDesk),
            "teamviewer" => Some(LogKind::TeamViewer),
            _ => None,
        }
    }
}

/// A peer a log line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSeen {
    /// Its ID (digits, as the tool writes it).
    pub id: String,
    /// The name it gave itself, when the line says.
    pub alias: Option<String>,
}

/// The peers `line` names (usually none).
pub fn parse_line(kind: LogKind, line: &str) -> Option<PeerSeen> {
    let line = line.trim_end_matches(['\r', '\n']);
    match kind {
        LogKind::AnyDesk => anydesk(line),
        LogKind::TeamViewer => teamviewer(line),
    }
}

fn anydesk(line: &str) -> Option<PeerSeen> {
    if let Some((_, rest)) = line.split_once("Incoming session request: ") {
        let rest = rest.trim();
        // "ALIAS (ID)": the alias may itself hold parentheses, the ID is
        // the last group.
        if let Some(inner) = rest.strip_suffix(')')
            && let Some((alias, id)) = inner.rsplit_once('(')
        {
            let alias = alias.trim();
            return Some(PeerSeen {
                id: id.trim().to_string(),
                alias: (!alias.is_empty() && alias != "-").then(|| alias.to_string()),
            });
        }
        return (!rest.is_empty()).then(|| PeerSeen {
            id: rest.to_string(),
            alias: None,
        });
    }
    let (_, rest) = line.split_once("Accept request from ")?;
    let id: String = rest
        .trim()
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .next()?
        .to_string();
    (!id.is_empty()).then_some(PeerSeen { id, alias: None })
}

fn teamviewer(line: &str) -> Option<PeerSeen> {
    let (_, rest) = line.split_once("AddParticipant: [")?;
    let (ids, after) = rest.split_once(']')?;
    let id = ids.split(',').next()?.trim().to_string();
    if id.is_empty() {
        return None;
    }
    let field = |name: &str| -> Option<&str> {
        let at = after.find(&format!("{name}="))?;
        Some(&after[at + name.len() + 1..])
    };
    let local = field("type").is_some_and(|t| t.split_whitespace().next() == Some("3"));
    if local {
        return None;
    }
    let alias = field("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Some(PeerSeen { id, alias })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANYDESK_REQUEST: &str = "   info 2024-02-16 20:29:04.298       back   4668   6440                   app.backend_session - Incoming session request: Richard Beard (221436813)";

    #[test]
    fn anydesk_request_names_alias_and_id() {
        assert_eq!(
            parse_line(LogKind::AnyDesk, ANYDESK_REQUEST),
            Some(PeerSeen {
                id: "221436813".into(),
                alias: Some("Richard Beard".into()),
            })
        );
        // An alias with parentheses of its own, a missing alias, CRLF.
        let tricky = "info 2025-11-26 14:05:00.001 back 1 2 app.backend_session - Incoming session request: Assistenza (ufficio) (1458399339)\r";
        assert_eq!(
            parse_line(LogKind::AnyDesk, tricky),
            Some(PeerSeen {
                id: "1458399339".into(),
                alias: Some("Assistenza (ufficio)".into()),
            })
        );
        let bare = "info 2026-03-23 12:00:00.123 Incoming session request: - (1458399339)";
        assert_eq!(
            parse_line(LogKind::AnyDesk, bare).map(|p| (p.id, p.alias)),
            Some(("1458399339".into(), None))
        );
    }

    #[test]
    fn anydesk_service_accept_names_the_id() {
        let line = "   info 2024-02-16 20:29:06.112       gsvc   4660   4700                   anynet.any_socket - Accept request from 221436813.";
        assert_eq!(
            parse_line(LogKind::AnyDesk, line),
            Some(PeerSeen {
                id: "221436813".into(),
                alias: None,
            })
        );
        assert_eq!(
            parse_line(
                LogKind::AnyDesk,
                "info 2024-02-16 20:29:06 - Session closed by 221436813"
            ),
            None
        );
    }

    #[test]
    fn teamviewer_participant_is_a_peer_unless_it_is_the_workstation() {
        let remote = "2024/06/28 20:23:37.280  3160  3604 S0   CPersistentParticipantManager::AddParticipant: [1651063400,876631011] type=6 name=Joe Doe | Pro IT Services";
        assert_eq!(
            parse_line(LogKind::TeamViewer, remote),
            Some(PeerSeen {
                id: "1651063400".into(),
                alias: Some("Joe Doe | Pro IT Services".into()),
            })
        );
        let local = "2024/06/28 20:23:37.279  3160  3604 S0   CPersistentParticipantManager::AddParticipant: [1349779002,-1525645512] type=3 name=UFFICIO-ANAGRAFE";
        assert_eq!(parse_line(LogKind::TeamViewer, local), None);
        let removed = "2024/06/28 22:49:14.140  3160  3608 S0   CPersistentParticipantManager::RemoveParticipant: [1651063400,2002352381]";
        assert_eq!(parse_line(LogKind::TeamViewer, removed), None);
    }
}
