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
/// standard and URL-safe alphabets, padded or not; and the password as a
/// registry may echo it back: JSON-escaped, percent-encoded, in hex, or
/// base64 of the password alone (see [`encodings`]).
pub fn register(credentials: &Credentials) {
    let password = credentials.password.expose();
    let pair = format!("{}:{password}", credentials.username);
    let mut values = encodings(password);
    values.extend(base64_forms(pair.as_bytes()));
    add(values);
}

/// `value` itself and every form of it a server may quote back: base64 in
/// both alphabets, padded or not; JSON string escaping (with `/` escaped or
/// not); percent-encoding of everything but letters and digits, or of
/// everything but URL-unreserved characters (upper- and lower-case hex,
/// a space as `%20` or `+`); hex of its bytes, lower and upper case.
pub fn encodings(value: &str) -> Vec<String> {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    /// What `encodeURIComponent` leaves alone, but for `!'()*`.
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut out = vec![value.to_string()];
    out.extend(base64_forms(value.as_bytes()));
    if let Ok(json) = serde_json::to_string(value) {
        let json = json[1..json.len() - 1].to_string();
        out.push(json.replace('/', "\\/"));
        out.push(json);
    }
    for set in [NON_ALPHANUMERIC, COMPONENT] {
        let upper = utf8_percent_encode(value, set).to_string();
        out.push(upper.replace("%20", "+"));
        out.push(lower_percent_hex(&upper));
        out.push(upper);
    }
    let hex = hex::encode(value.as_bytes());
    out.push(hex.to_ascii_uppercase());
    out.push(hex);
    out
}

/// `bytes` in base64, standard and URL-safe alphabets, padded or not.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines.iter().map(|e| e.encode(bytes)).collect()
}

/// `%2F` as `%2f`: the two hex digits after each `%` in lower case.
fn lower_percent_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut digits = 0;
    for c in encoded.chars() {
        if digits > 0 {
            out.push(c.to_ascii_lowercase());
            digits -= 1;
        } else {
            if c == '%' {
                digits = 2;
            }
            out.push(c);
        }
    }
    out
}

/// Remembers a token (such as a bearer token from a registry's token
/// endpoint) for [`redact`].
pub fn register_token(token: &str) {
    add(encodings(token));
}

/// Remembers a build secret's value (`secrets:`) for [`redact`]: the value
/// in every encoding [`encodings`] lists, and also the value without its
/// surrounding whitespace and each of its lines, as a `RUN` step printing
/// the file line by line would show them.
pub fn register_build_secret(value: &str) {
    let mut values = encodings(value);
    values.extend(encodings(value.trim()));
    for line in value.lines().map(str::trim).filter(|l| l.len() >= 8) {
        values.extend(encodings(line));
    }
    add(values);
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
    fn a_password_echoed_in_any_encoding_is_redacted() {
        // A password with characters JSON, URLs and the shell escape.
        let password = "q\"w/e\\r t+y%u&i=o?p:é";
        register(&Credentials {
            username: "enc-user".into(),
            password: Secret::new(password),
        });
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = serde_json::to_string(password).unwrap();
        let echoes = [
            json[1..json.len() - 1].to_string(),
            json[1..json.len() - 1].replace('/', "\\/"),
            "q%22w%2Fe%5Cr%20t%2By%25u%26i%3Do%3Fp%3A%C3%A9".to_string(),
            "q%22w%2fe%5cr%20t%2by%25u%26i%3do%3fp%3a%c3%a9".to_string(),
            "q%22w%2Fe%5Cr+t%2By%25u%26i%3Do%3Fp%3A%C3%A9".to_string(),
            hex::encode(password),
            hex::encode_upper(password),
            b64.encode(password),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(password),
        ];
        for echo in echoes {
            let text = format!("registry says: bad password [{echo}] for enc-user");
            let clean = redact(&text);
            assert_eq!(
                clean, "registry says: bad password [<redacted>] for enc-user",
                "{echo}"
            );
        }
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
