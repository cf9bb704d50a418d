//! Reading a feed's text from a file or an http(s) URL.
//!
//! Planning is synchronous, but reqwest is async; a URL is fetched on a
//! short-lived thread with its own runtime so that `load` works both from
//! plain code and from inside a tokio runtime (where blocking would panic).
//!
//! A file goes through the config reader (inside the config's folder, a
//! regular file, at most [`MAX_FEED_BYTES`]); a URL is read in chunks and
//! given up as soon as it passes the same cap, so a hostile or broken server
//! never makes strata hold more than that.

use std::path::Path;
use std::time::Duration;

use crate::config::read::{read_text_capped, show_size, MAX_FEED_BYTES};

use super::FeedError;

/// How many times a URL is tried before giving up: feeds are small and
/// static, so a retry mostly rides out a flaky connection.
const ATTEMPTS: u32 = 3;

/// Reads `source`: an `http://`/`https://` URL, or a file path relative to
/// `base_dir` (the config file's folder).
pub fn load(source: &str, base_dir: &Path) -> Result<String, FeedError> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let url = source.to_string();
        std::thread::scope(|scope| {
            scope
                .spawn(|| fetch_blocking(&url))
                .join()
                .unwrap_or_else(|_| {
                    Err(FeedError::Fetch {
                        url: url.clone(),
                        message: "the download thread panicked".into(),
                    })
                })
        })
    } else {
        let path = base_dir.join(source);
        read_text_capped(&path, Some(base_dir), "feed file", MAX_FEED_BYTES).map_err(|e| {
            FeedError::Read {
                message: match &e.help {
                    Some(help) => format!("{}; {help}", e.message),
                    None => e.message.clone(),
                },
            }
        })
    }
}

fn fetch_blocking(url: &str) -> Result<String, FeedError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FeedError::Fetch {
            url: url.into(),
            message: format!("cannot start the network runtime: {e}"),
        })?;
    runtime.block_on(fetch(url))
}

async fn fetch(url: &str) -> Result<String, FeedError> {
    fetch_capped(url, MAX_FEED_BYTES).await
}

async fn fetch_capped(url: &str, cap: u64) -> Result<String, FeedError> {
    let fail = |message: String| FeedError::Fetch {
        url: url.into(),
        message,
    };
    let refuse = |message: String| FeedError::Refused {
        url: url.into(),
        message,
    };
    // reqwest's default TLS verifies against the platform's CA store, so a
    // corporate CA installed system-wide is honoured.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                match read_body(response, cap).await {
                    Ok(Body::Text(text)) => return Ok(text),
                    Ok(Body::TooLong) => {
                        return Err(refuse(format!(
                            "it is longer than {} ({cap} bytes), the most strata reads of a feed",
                            show_size(cap)
                        )))
                    }
                    Ok(Body::NotText(e)) => {
                        return Err(refuse(format!("it is not UTF-8 text: {e}")))
                    }
                    Err(e) => last = error_chain(&e),
                }
            }
            // A 4xx will not get better by asking again: the URL is wrong.
            Ok(response) if response.status().is_client_error() => {
                return Err(refuse(format!("the server answered {}", response.status())));
            }
            Ok(response) => last = format!("the server answered {}", response.status()),
            Err(e) => last = error_chain(&e),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
    }
    Err(fail(format!("{last} (after {ATTEMPTS} attempts)")))
}

/// A response body read up to a cap.
enum Body {
    Text(String),
    TooLong,
    NotText(std::str::Utf8Error),
}

/// Reads `response` chunk by chunk, stopping as soon as it passes `cap`
/// bytes (whatever its `Content-Length` claims).
async fn read_body(mut response: reqwest::Response, cap: u64) -> Result<Body, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Ok(Body::TooLong);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (bytes.len() + chunk.len()) as u64 > cap {
            return Ok(Body::TooLong);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::NotText(e.utf8_error()),
    })
}

/// reqwest's top-level message ("error sending request") hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// Serves one answer of `body_len` bytes of `x` with no length header,
    /// counting what it managed to send before the client hung up.
    fn serve_endless(body_len: usize) -> (String, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/index.json", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        });
        (url, handle)
    }

    #[test]
    fn a_url_feed_is_given_up_at_its_cap_while_streaming() {
        // 64 MiB offered, 1 MiB allowed: strata stops reading long before
        // the server is done, and says what the cap is.
        let (url, server) = serve_endless(64 << 20);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime.block_on(fetch_capped(&url, 1 << 20)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("longer than 1 MiB"), "{text}");
        assert!(!err.is_environment(), "{text}");
        drop(runtime);
        let sent = server.join().unwrap();
        assert!(sent < 64 << 20, "the whole body was read: {sent} bytes");
    }
}
