//! The little HTTP the metrics endpoint speaks: a request head read into a
//! bounded buffer and parsed (by `httparse`), routed to the page, a 404 or
//! a 405, and one response per connection, closed after it. Pure: the
//! server ([`super`]) does the reading and writing.

/// The longest request head accepted; past it the request is refused (400).
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Headers accepted in one request (Prometheus sends about five).
const MAX_HEADERS: usize = 64;

/// The path the page is served on.
const PATH: &str = "/metrics";

/// What the bytes received so far make of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// Not a whole head yet, and still within [`MAX_HEAD`].
    Partial,
    /// A whole head (or bytes that can never be one): what to answer.
    Done(Route),
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The page; `body` is false for `HEAD`.
    Page {
        /// Whether the page itself follows the head.
        body: bool,
    },
    /// Another path (404).
    NotFound,
    /// The page's path with another method than `GET` or `HEAD` (405).
    NotAllowed,
    /// Not HTTP, or a head over [`MAX_HEAD`] (400).
    Bad,
}

/// Parses the bytes received so far.
pub(crate) fn parse(received: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(received) {
        Ok(httparse::Status::Complete(_)) => {
            let path = request.path.unwrap_or_default();
            // A query string changes nothing (some scrapers add one).
            let path = path.split_once('?').map_or(path, |(path, _query)| path);
            Head::Done(match (path == PATH, request.method.unwrap_or_default()) {
                (false, _) => Route::NotFound,
                (true, "GET") => Route::Page { body: true },
                (true, "HEAD") => Route::Page { body: false },
                (true, _) => Route::NotAllowed,
            })
        }
        Ok(httparse::Status::Partial) if received.len() < MAX_HEAD => Head::Partial,
        Ok(httparse::Status::Partial) | Err(_) => Head::Done(Route::Bad),
    }
}

/// A whole response: status line, headers and, if `body`, the content.
pub(crate) fn response(
    status: &str,
    headers: &[(&str, &str)],
    content: &[u8],
    body: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + if body { content.len() } else { 0 });
    out.extend_from_slice(format!("HTTP/1.1 {status}\r\n").as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    // The length of the content even for HEAD, as GET would send it.
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    );
    if body {
        out.extend_from_slice(content);
    }
    out
}

/// The plain-text answer to a request that gets no page.
pub(crate) fn refusal(route: Route) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    match route {
        Route::NotFound => response(
            "404 Not Found",
            &[("Content-Type", text)],
            b"not found: the metrics are at /metrics\n",
            true,
        ),
        Route::NotAllowed => response(
            "405 Method Not Allowed",
            &[("Content-Type", text), ("Allow", "GET, HEAD")],
            b"method not allowed: use GET or HEAD\n",
            true,
        ),
        Route::Bad | Route::Page { .. } => response(
            "400 Bad Request",
            &[("Content-Type", text)],
            b"bad request\n",
            true,
        ),
    }
}

/// The answer to a client that did not send a whole head in time.
pub(crate) fn timed_out() -> Vec<u8> {
    response(
        "408 Request Timeout",
        &[("Content-Type", "text/plain; charset=utf-8")],
        b"request timeout\n",
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(text: &str) -> Head {
        parse(text.as_bytes())
    }

    #[test]
    fn requests_are_routed() {
        let get = Head::Done(Route::Page { body: true });
        assert_eq!(done("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), get);
        assert_eq!(done("GET /metrics HTTP/1.0\r\n\r\n"), get);
        assert_eq!(done("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), get);
        assert_eq!(
            done("HEAD /metrics HTTP/1.1\r\n\r\n"),
            Head::Done(Route::Page { body: false })
        );
        assert_eq!(
            done("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Head::Done(Route::NotAllowed)
        );
        assert_eq!(done("GET / HTTP/1.1\r\n\r\n"), Head::Done(Route::NotFound));
        assert_eq!(
            done("DELETE /metrics/x HTTP/1.1\r\n\r\n"),
            Head::Done(Route::NotFound)
        );
    }

    #[test]
    fn a_partial_head_waits_within_the_bound_and_is_refused_past_it() {
        assert_eq!(done("GET /metrics HTTP/1.1\r\nHost:"), Head::Partial);
        assert_eq!(done(""), Head::Partial);
        let mut long = b"GET /metrics HTTP/1.1\r\nX-Long: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&long), Head::Done(Route::Bad));
        long.truncate(MAX_HEAD - 1);
        assert_eq!(parse(&long), Head::Partial);
    }

    #[test]
    fn garbage_is_refused_at_once() {
        assert_eq!(parse(b"\x00\xff\x16\x03\x01"), Head::Done(Route::Bad));
        assert_eq!(
            done("GET /metrics SMTP/1.1\r\n\r\n"),
            Head::Done(Route::Bad)
        );
        let mut many = String::from("GET /metrics HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(done(&many), Head::Done(Route::Bad));
    }

    #[test]
    fn responses_carry_their_length_and_close() {
        let page = response("200 OK", &[("Content-Type", "t")], b"abc", true);
        assert_eq!(
            page,
            b"HTTP/1.1 200 OK\r\nContent-Type: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
        let head = response("200 OK", &[], b"abc", false);
        assert!(head.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\n"));
        let refused = String::from_utf8(refusal(Route::NotAllowed)).expect("text");
        assert!(refused.starts_with("HTTP/1.1 405 "), "{refused}");
        assert!(refused.contains("\r\nAllow: GET, HEAD\r\n"), "{refused}");
    }
}
