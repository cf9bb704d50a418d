//! Reading a feed's text from a file or an http(s) URL.
//!
//! Planning is synchronous, but reqwest is async; a URL is fetched on a
//! short-lived thread with its own runtime so that `load` works both from
//! plain code and from inside a tokio runtime (where blocking would panic).

use std::path::Path;
use std::time::Duration;

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
        std::fs::read_to_string(&path).map_err(|error| FeedError::Read {
            path: path.display().to_string(),
            error,
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
    let fail = |message: String| FeedError::Fetch {
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
                return response.text().await.map_err(|e| fail(e.to_string()));
            }
            // A 4xx will not get better by asking again.
            Ok(response) if response.status().is_client_error() => {
                return Err(fail(format!("the server answered {}", response.status())));
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
