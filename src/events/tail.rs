//! The bounded tail of a step's output.
//!
//! A step may print gigabytes. Its full output goes, line by line, to the
//! step's log file (`logs/<image>/<step>.attempt<N>.log` in the run folder);
//! what strata keeps in memory and puts in reports (`StepFinished.log`, and
//! from it the Markdown, HTML, JSON and JUnit reports) is the last
//! [`LOG_TAIL_BYTES`] of it, in whole lines, after a line saying how much
//! was left out and where it is.

use std::path::{Path, PathBuf};

use super::Step;

/// How much of a step's output reports keep: its last 32 KiB.
pub const LOG_TAIL_BYTES: usize = 32 * 1024;

/// About how many bytes of `Log` events of one step attempt `events.jsonl`
/// keeps (the first ones); the rest are in the step's log file.
pub const LOG_EVENT_BYTES: usize = 32 * 1024;

/// The last [`LOG_TAIL_BYTES`] (or `limit`) of a text given a line at a
/// time, and how many lines and bytes came before them.
#[derive(Debug, Clone)]
pub struct Tail {
    limit: usize,
    text: String,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl Default for Tail {
    fn default() -> Self {
        Tail::new(LOG_TAIL_BYTES)
    }
}

impl Tail {
    pub fn new(limit: usize) -> Tail {
        Tail {
            limit: limit.max(1),
            text: String::new(),
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    /// Adds one line (its line break is added here).
    pub fn push_line(&mut self, line: &str) {
        // A line longer than the whole tail keeps its end only.
        let line = if line.len() >= self.limit {
            let mut start = line.len() + 1 - self.limit;
            while !line.is_char_boundary(start) {
                start += 1;
            }
            self.dropped_bytes += start as u64;
            &line[start..]
        } else {
            line
        };
        self.text.push_str(line);
        self.text.push('\n');
        // Trimmed in batches, so each byte is moved a bounded number of times.
        if self.text.len() > 2 * self.limit {
            self.trim();
        }
    }

    /// Cuts whole lines off the front until at most `limit` bytes are left.
    fn trim(&mut self) {
        if self.text.len() <= self.limit {
            return;
        }
        let over = self.text.len() - self.limit;
        // The end of the line holding byte `over - 1`: every line is shorter
        // than the limit, so one always follows.
        let cut = self.text[over - 1..]
            .find('\n')
            .map_or(self.text.len(), |i| over + i);
        self.dropped_lines += self.text[..cut].matches('\n').count() as u64;
        self.dropped_bytes += cut as u64;
        self.text.drain(..cut);
    }

    /// True when some output was left out.
    pub fn cut(&self) -> bool {
        self.dropped_bytes > 0
    }

    /// The kept text; when some was left out, it starts with a line saying
    /// how much and that `log_file` (relative to the run folder) has it all.
    pub fn finish(mut self, log_file: &Path) -> String {
        self.trim();
        if !self.cut() {
            return self.text;
        }
        format!(
            "[strata: {} earlier line{} ({} bytes) not kept here; the full output is in {} in the run folder]\n{}",
            self.dropped_lines,
            if self.dropped_lines == 1 { "" } else { "s" },
            self.dropped_bytes,
            log_file.display(),
            self.text
        )
    }
}

/// The log file of `image`'s `step`, attempt `attempt`, relative to the
/// run folder: `logs/<image>/<step>.attempt<N>.log`.
pub fn log_file(image: &str, step: &Step, attempt: u32) -> PathBuf {
    let step = match step {
        Step::Build => "build".to_string(),
        Step::Test { index, .. } => format!("test{index}"),
        Step::Push => "push".to_string(),
        Step::Alias { tag } => format!("alias-{}", file_safe(tag)),
    };
    Path::new("logs")
        .join(file_safe(image))
        .join(format!("{step}.attempt{attempt}.log"))
}

/// `127.0.0.1:5000/acme/app:1.0` → `127.0.0.1%3A5000%2Facme%2Fapp%3A1.0`:
/// percent-encoding, so two names never share a folder (`a/x_y:1` and
/// `a/x/y:1` stay apart) and the name can be read back.
pub fn file_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    // `.` and `..` alone would name this folder or its parent.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let mut tail = Tail::default();
        tail.push_line("one");
        tail.push_line("two");
        assert_eq!(tail.finish(Path::new("x.log")), "one\ntwo\n");
    }

    #[test]
    fn long_output_keeps_its_last_lines_and_says_what_was_left_out() {
        let mut tail = Tail::new(100);
        for n in 0..10_000 {
            tail.push_line(&format!("line {n:05}"));
            assert!(tail.text.len() <= 2 * 100 + 12);
        }
        let text = tail.finish(Path::new("logs/a/build.attempt1.log"));
        let mut lines = text.lines();
        let head = lines.next().unwrap();
        assert!(
            head.starts_with("[strata: 9991 earlier lines (109901 bytes) not kept here"),
            "{head}"
        );
        assert!(head.contains("logs/a/build.attempt1.log"), "{head}");
        let kept: Vec<_> = lines.collect();
        assert_eq!(kept.len(), 9);
        assert_eq!(kept.last(), Some(&"line 09999"));
        assert_eq!(kept[0], "line 09991");
    }

    #[test]
    fn a_huge_line_keeps_its_end_on_a_character_boundary() {
        let mut tail = Tail::new(10);
        tail.push_line(&"é".repeat(100));
        let text = tail.finish(Path::new("x"));
        assert!(text.ends_with("\néééé\n"), "{text}");
        assert!(text.lines().last().unwrap().len() < 10);
    }

    #[test]
    fn log_files_are_named_by_image_step_and_attempt() {
        assert_eq!(
            log_file(
                "127.0.0.1:5000/a:1",
                &Step::Test {
                    index: 2,
                    path: "t".into()
                },
                3
            ),
            Path::new("logs/127.0.0.1%3A5000%2Fa%3A1/test2.attempt3.log")
        );
        assert_eq!(file_safe(".."), "%2E%2E");
    }
}
