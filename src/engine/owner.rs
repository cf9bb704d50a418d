//! Which strata process a container belongs to.
//!
//! Every container strata creates carries its owner's token: the host, the
//! process ID and that process's start time (so a recycled PID is not taken
//! for the old process). A container whose owner on this host is gone was
//! left behind by a killed run and may be removed; one whose owner is alive
//! belongs to a concurrent run (another shard, a parallel test) and is never
//! touched.

use std::fmt;

/// A strata process, as written into the label of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/PID/stat`).
    pub started: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: hostname(),
            pid,
            started: start_ticks(pid).unwrap_or(0),
        }
    }

    /// Reads a label value written by [`Owner`]'s `Display`; `None` for
    /// anything else (such as an older strata's plain `1`).
    pub fn parse(label: &str) -> Option<Owner> {
        let mut parts = label.rsplitn(3, '/');
        let started = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Owner { host, pid, started })
    }

    /// True when the owner is certainly gone: on this host, and no process
    /// with that PID and start time exists. A container of another host, or
    /// with an unreadable label, is judged by [`is_stale_label`].
    pub fn is_gone(&self) -> bool {
        self.host == hostname() && start_ticks(self.pid) != Some(self.started)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.host, self.pid, self.started)
    }
}

/// True when a container with this owner label was left behind: its owner is
/// gone, or the label predates owner tokens (strata before owners wrote `1`).
pub fn is_stale_label(label: &str) -> bool {
    match Owner::parse(label) {
        Some(owner) => owner.is_gone(),
        None => true,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// Field 22 of `/proc/PID/stat`: when the process started, in ticks.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = Owner::current();
        assert!(me.started > 0);
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
        assert!(!me.is_gone());
        assert!(!is_stale_label(&me.to_string()));
    }

    #[test]
    fn a_dead_or_recycled_owner_is_gone_and_old_labels_are_stale() {
        let me = Owner::current();
        let recycled = Owner {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(recycled.is_gone());
        // PID 2^22 + 7 is above Linux's maximum: no such process.
        let dead = Owner {
            pid: 4_194_311,
            ..me.clone()
        };
        assert!(dead.is_gone());
        let elsewhere = Owner {
            host: "another-host".into(),
            pid: 4_194_311,
            ..me
        };
        assert!(!elsewhere.is_gone(), "another host's runs are never judged");
        assert!(is_stale_label("1"));
        assert!(Owner::parse("host.with/slash/12/34").is_some());
    }
}
