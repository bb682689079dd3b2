//! The Windows Event Log: where a Windows IT department looks first.

use std::io;

use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};

use super::wide;

/// How serious an entry is, as Event Viewer shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Normal operation (allowed, started, stopped).
    Information,
    /// Something the operator or IT should look at (blocked, alerted).
    Warning,
    /// varco cannot do its job as configured (config errors).
    Error,
}

/// A registered event source in the Application log.
pub struct EventLog(windows_sys::Win32::Foundation::HANDLE);

// SAFETY: an event-source handle may be used from any thread; the sink
// owns it alone and uses it from the audit thread only.
unsafe impl Send for EventLog {}

impl EventLog {
    /// Opens the Application log under `source` (install.ps1 registers
    /// `varco` with a message file so Event Viewer shows the text plainly;
    /// unregistered, entries are still written and readable).
    pub fn open(source: &str) -> io::Result<EventLog> {
        let name = wide(std::ffi::OsStr::new(source));
        // SAFETY: a null server means the local machine; `name` is
        // NUL-terminated.
        let h = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(EventLog(h))
    }

    /// Writes one entry with event id `id` and `text` as its only string.
    pub fn report(&self, severity: Severity, id: u32, text: &str) -> io::Result<()> {
        let kind = match severity {
            Severity::Information => EVENTLOG_INFORMATION_TYPE,
            Severity::Warning => EVENTLOG_WARNING_TYPE,
            Severity::Error => EVENTLOG_ERROR_TYPE,
        };
        let text = wide(std::ffi::OsStr::new(text));
        let strings = [text.as_ptr()];
        // SAFETY: the handle is live; one NUL-terminated string is passed
        // and counted; no user SID and no raw data.
        let ok = unsafe {
            ReportEventW(
                self.0,
                kind,
                0,
                id,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is released
        // once.
        unsafe { DeregisterEventSource(self.0) };
    }
}
