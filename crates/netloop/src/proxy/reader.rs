//! The server's side of one connection: a [`ProxyParser`] with the
//! server's mode (required or optional), deciding what the bytes read so
//! far, the peer's FIN, or the header timeout mean. The stream layer
//! drives it (`StreamHandle::read_header`); it does no I/O itself.

use std::borrow::Cow;
use std::time::Duration;

use super::header::ProxyHeader;
use super::parse::{proxy_error, quote, Parsed, ProxyParser};
use super::ProxyProtocol;
use crate::error::Error;

/// How many bytes of a connection that is not PROXY the error quotes.
const QUOTED: usize = 8;

/// How reading a header ended well: the header (`Some`), or none and
/// the server takes the connection as it is (`None`, optional mode only);
/// and the connection's first data, `rest`: what followed the header, or
/// every byte read when there was none.
pub(crate) struct HeaderEnd<'a> {
    pub(crate) header: Option<ProxyHeader>,
    pub(crate) rest: Cow<'a, [u8]>,
}

/// Reads one connection's header (see the module docs).
pub(crate) struct HeaderReader {
    parser: ProxyParser,
    required: bool,
}

impl HeaderReader {
    /// A reader for a server in `mode` (`Required` or `Optional`; `Off`
    /// never reads one) refusing version 2 headers over `max_header` bytes.
    pub(crate) fn new(mode: ProxyProtocol, max_header: usize) -> HeaderReader {
        HeaderReader {
            parser: ProxyParser::with_max_header(max_header),
            required: mode != ProxyProtocol::Optional,
        }
    }

    /// The next bytes read from the connection: `Ok(None)` while nothing
    /// is decided yet, `Err` (`ERR_PROXY_PROTOCOL`, saying why) when the
    /// connection must be closed.
    pub(crate) fn feed<'a>(&mut self, chunk: &'a [u8]) -> Result<Option<HeaderEnd<'a>>, Error> {
        match self.parser.feed(chunk)? {
            Parsed::Incomplete => Ok(None),
            Parsed::Done(header, used) => Ok(Some(HeaderEnd {
                header: Some(header),
                rest: Cow::Borrowed(&chunk[used..]),
            })),
            Parsed::NotProxy => {
                let mut all = self.parser.take_buffered();
                if self.required {
                    all.extend_from_slice(&chunk[..chunk.len().min(QUOTED)]);
                    return Err(proxy_error(format!(
                        "header required, got \"{}\"",
                        quote(&all[..all.len().min(QUOTED)])
                    )));
                }
                all.extend_from_slice(chunk);
                Ok(Some(HeaderEnd {
                    header: None,
                    rest: Cow::Owned(all),
                }))
            }
        }
    }

    /// The peer ended its side before the header was complete.
    pub(crate) fn eof(&mut self) -> Result<HeaderEnd<'static>, Error> {
        self.give_up(|n| match n {
            0 => "connection closed before the header (no bytes received)".to_owned(),
            n => format!("connection closed before the header was complete ({n} bytes received)"),
        })
    }

    /// No header came within `after`.
    pub(crate) fn timed_out(&mut self, after: Duration) -> Result<HeaderEnd<'static>, Error> {
        let after = human(after);
        self.give_up(|n| match n {
            0 => format!("no header within {after}"),
            n => format!("header incomplete after {after} ({n} bytes received)"),
        })
    }

    /// No more bytes will come (soon): in optional mode, bytes that cannot
    /// be told from a signature yet (`PROX`, or none) are the
    /// connection's data; anything else is an error worded by `what`
    /// (given how many bytes came).
    fn give_up(&mut self, what: impl FnOnce(usize) -> String) -> Result<HeaderEnd<'static>, Error> {
        if !self.required && !self.parser.signature_seen() {
            return Ok(HeaderEnd {
                header: None,
                rest: Cow::Owned(self.parser.take_buffered()),
            });
        }
        Err(proxy_error(what(self.parser.buffered().len())))
    }
}

/// The connection failed (`read ECONNRESET`) before its header was
/// complete: the `ERR_PROXY_PROTOCOL` error that says so.
pub(crate) fn failed_before_header(err: &Error) -> Error {
    proxy_error(format!("{err} before the header was complete"))
}

/// A duration as a person writes it: `30s`, `50ms`, `1.5s`.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.subsec_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(step: Result<Option<HeaderEnd<'_>>, Error>) -> (Option<ProxyHeader>, Vec<u8>) {
        match step {
            Ok(Some(HeaderEnd { header, rest })) => (header, rest.into_owned()),
            Ok(None) => panic!("more"),
            Err(e) => panic!("failed: {e}"),
        }
    }

    fn failed(step: Result<Option<HeaderEnd<'_>>, Error>) -> String {
        match step {
            Err(e) => e.to_string(),
            _ => panic!("not failed"),
        }
    }

    #[test]
    fn required_mode_quotes_what_came_instead() {
        let mut r = HeaderReader::new(ProxyProtocol::Required, 4096);
        assert_eq!(
            failed(r.feed(b"GET / HTTP/1.1\r\n")),
            "PROXY protocol: header required, got \"GET / HT\""
        );
        let mut r = HeaderReader::new(ProxyProtocol::Required, 4096);
        assert!(matches!(r.feed(b"PRO"), Ok(None)));
        assert_eq!(
            failed(r.feed(b"TOCOL 1\r\n")),
            "PROXY protocol: header required, got \"PROTOCOL\""
        );
    }

    #[test]
    fn optional_mode_hands_every_byte_on() {
        let mut r = HeaderReader::new(ProxyProtocol::Optional, 4096);
        assert!(matches!(r.feed(b"\r\n\r"), Ok(None)));
        assert_eq!(done(r.feed(b"x")), (None, b"\r\n\rx".to_vec()));
        let mut r = HeaderReader::new(ProxyProtocol::Optional, 4096);
        assert!(matches!(r.feed(b"PROX"), Ok(None)));
        assert_eq!(done(r.eof().map(Some)), (None, b"PROX".to_vec()));
        let mut r = HeaderReader::new(ProxyProtocol::Optional, 4096);
        assert!(matches!(r.feed(b"PROXY TCP4"), Ok(None)));
        assert_eq!(
            failed(r.timed_out(Duration::from_millis(50)).map(Some)),
            "PROXY protocol: header incomplete after 50ms (10 bytes received)"
        );
    }

    #[test]
    fn giving_up_says_how_much_came() {
        let mut r = HeaderReader::new(ProxyProtocol::Required, 4096);
        assert_eq!(
            failed(r.timed_out(Duration::from_secs(30)).map(Some)),
            "PROXY protocol: no header within 30s"
        );
        assert_eq!(
            failed(r.eof().map(Some)),
            "PROXY protocol: connection closed before the header (no bytes received)"
        );
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }
}
