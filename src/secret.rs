//! A string that never prints itself: registry passwords and tokens.

use std::fmt;

/// Holds a secret. `Debug` and `Display` print `<redacted>`; the only way to
/// read it is [`Secret::expose`], so a secret cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself. Call only where it is handed to the engine or registry.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Registry credentials for one registry host.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// Every secret this process has handed to an engine or registry, in each
/// encoding it was sent in. Text leaving strata (events, printed errors)
/// passes through [`redact`], which replaces all of them.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not scrubbed from text: replacing every
/// `a` of a one-letter password would garble every message and hide nothing.
const MIN_SCRUBBED: usize = 3;

/// Remembers `credentials` for [`redact`]: the password itself and the
/// base64 of `user:password` (HTTP Basic and Docker's `auth` field), in
/// standard and URL-safe alphabets, padded or not.
pub fn register(credentials: &Credentials) {
    use base64::Engine as _;
    let password = credentials.password.expose();
    let pair = format!("{}:{password}", credentials.username);
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut values = vec![password.to_string()];
    values.extend(engines.iter().map(|e| e.encode(&pair)));
    add(values);
}

/// Remembers a token (such as a bearer token from a registry's token
/// endpoint) for [`redact`].
pub fn register_token(token: &str) {
    add(vec![token.to_string()]);
}

fn add(values: Vec<String>) {
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for v in values {
        if v.len() >= MIN_SCRUBBED && !known.contains(&v) {
            known.push(v);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every registered secret replaced by [`REDACTED`], and the
/// value of every `Basic …` or `Bearer …` credential (an echoed
/// `Authorization` header, whoever's it is) replaced too.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = std::borrow::Cow::Borrowed(text);
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = std::borrow::Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    match scrub_schemes(&out) {
        Some(scrubbed) => std::borrow::Cow::Owned(scrubbed),
        None => out,
    }
}

/// Replaces `<scheme> <credential>` for the HTTP schemes that carry one;
/// `None` when there is nothing to replace.
fn scrub_schemes(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut cuts = Vec::new();
    for scheme in ["basic ", "bearer "] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(scheme) {
            let start = from + at + scheme.len();
            let len = text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_.~".contains(c)))
                .unwrap_or(text.len() - start);
            // A credential is long; "basic auth" or "bearer token" is prose.
            if len >= 8 {
                cuts.push((start, start + len));
            }
            from = start;
        }
    }
    if cuts.is_empty() {
        return None;
    }
    cuts.sort();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in cuts {
        if start < last {
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// [`redact`], in place.
pub fn redact_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(clean) = redact(text) {
        *text = clean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn every_encoding_of_a_registered_password_is_redacted() {
        let creds = Credentials {
            username: "redact-user".into(),
            password: Secret::new("pw-7f3a9c1e"),
        };
        register(&creds);
        let b64 = base64::engine::general_purpose::STANDARD.encode("redact-user:pw-7f3a9c1e");
        let url =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("redact-user:pw-7f3a9c1e");
        let text = format!("plain pw-7f3a9c1e, auth {b64}, url {url}");
        let clean = redact(&text);
        assert!(!clean.contains("pw-7f3a9c1e"), "{clean}");
        assert!(!clean.contains(&b64), "{clean}");
        assert!(!clean.contains(&url), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 3, "{clean}");
    }

    #[test]
    fn echoed_authorization_headers_are_redacted_whatever_they_hold() {
        let text = "you sent Authorization: Bearer eyJhbGciOi.J9abc-def_ghi and basic Zm9vOmJhcg==; basic auth is fine";
        let clean = redact(text);
        assert!(!clean.contains("eyJhbGciOi"), "{clean}");
        assert!(!clean.contains("Zm9vOmJhcg"), "{clean}");
        assert!(clean.contains("basic auth is fine"), "{clean}");
    }

    #[test]
    fn registered_tokens_are_redacted_and_clean_text_is_untouched() {
        register_token("tok-91be77aa");
        assert_eq!(redact("got tok-91be77aa back"), "got <redacted> back");
        assert!(matches!(
            redact("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
