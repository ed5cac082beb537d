//! The HTTP client of the health checks (httpcheck's probes and the
//! monitor's `ready.http`): no proxy (the endpoints are the colony's own),
//! no redirects followed (the checked URL itself must answer 2xx), every
//! status code an answer rather than an error.

use std::time::Duration;

/// The agent, naming `program` in its `User-Agent`.
pub(crate) fn agent(program: &str) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(format!("{program}/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One GET with an overall timeout: the 2xx status code, or why not.
pub(crate) fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<u16, String> {
    let response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call();
    match response {
        Err(e) => Err(e.to_string()),
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => Err(format!("answered {}", response.status())),
    }
}
