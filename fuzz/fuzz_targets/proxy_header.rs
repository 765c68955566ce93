//! The PROXY protocol parser (`netloop::proxy`) on any bytes, whole and
//! cut into pieces: no panic; feeding the pieces to a `ProxyParser` gives
//! exactly the verdict `parse` gives the whole input (the same header
//! ending at the same byte, the same "not PROXY", the same error message);
//! a limited parser agrees unless it names the limit; and every header
//! found encodes and parses back to itself (a CRC32C TLV's value is
//! recomputed by the encoder, so it is compared without it).
//!
//! The first byte says how many cut points follow (0 to 5), each a byte
//! scaled to the input's length; the rest is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloop::proxy::{self, Parsed, ProxyHeader, ProxyParser, Tlv};

/// What a header says, with CRC32C values blanked.
fn comparable(h: &ProxyHeader) -> String {
    let tlvs: Vec<(u8, Vec<u8>)> = h
        .tlvs()
        .iter()
        .map(|t| match t.kind {
            Tlv::CRC32C => (t.kind, Vec::new()),
            _ => (t.kind, t.value.clone()),
        })
        .collect();
    format!(
        "{:?} {:?} {:?} {:?} {tlvs:?}",
        h.version(),
        h.command(),
        h.transport(),
        h.addresses()
    )
}

/// A verdict as comparable text: `Done` with the header and where it ends.
fn verdict(res: &netloop::Result<Parsed>) -> String {
    match res {
        Ok(Parsed::Done(h, n)) => format!("done at {n}: {}", comparable(h)),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error {}: {e}", e.code().as_str()),
    }
}

/// Feed `input` cut at `points` (sorted, within bounds) to `parser`; the
/// verdict with `Done`'s length counted from the start of the input.
fn fed(mut parser: ProxyParser, input: &[u8], points: &[usize]) -> netloop::Result<Parsed> {
    let mut start = 0;
    for &end in points.iter().chain(std::iter::once(&input.len())) {
        match parser.feed(&input[start..end])? {
            Parsed::Incomplete => start = end,
            Parsed::Done(h, used) => return Ok(Parsed::Done(h, start + used)),
            Parsed::NotProxy => return Ok(Parsed::NotProxy),
        }
    }
    Ok(Parsed::Incomplete)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let ncuts = usize::from(first % 6).min(rest.len());
    let (seeds, input) = rest.split_at(ncuts);
    let mut points: Vec<usize> = seeds
        .iter()
        .map(|&b| usize::from(b) * input.len() / 255)
        .collect();
    points.sort_unstable();

    let whole = proxy::parse(input);
    let want = verdict(&whole);

    // Cut anywhere, the same verdict.
    let split = fed(ProxyParser::new(), input, &points);
    assert_eq!(verdict(&split), want, "cut at {points:?}");
    // One byte at a time, for inputs of a header's size.
    if input.len() <= 512 {
        let each: Vec<usize> = (1..input.len()).collect();
        assert_eq!(verdict(&fed(ProxyParser::new(), input, &each)), want, "byte by byte");
    }

    // A limit changes nothing but the headers over it.
    let limited = verdict(&fed(ProxyParser::with_max_header(64), input, &points));
    if limited != want {
        assert!(
            limited.contains("is over the limit of 64 bytes"),
            "{limited} / {want}"
        );
    }

    match whole {
        Ok(Parsed::Done(h, n)) => {
            assert!(n <= input.len());
            let wire = h.encode().expect("a header that was read encodes");
            match proxy::parse(&wire) {
                Ok(Parsed::Done(back, len)) => {
                    assert_eq!(len, wire.len(), "the whole encoding is the header");
                    assert_eq!(comparable(&back), comparable(&h));
                }
                other => panic!("re-encoded header: {:?}", verdict(&other)),
            }
            // The well-known TLV helpers never panic on what was read.
            let _ = (h.alpn(), h.authority(), h.unique_id(), h.netns(), h.ssl(), h.crc32c());
            let _ = (h.source(), h.destination(), h.unix_addresses());
        }
        Ok(Parsed::Incomplete) => {
            // Incomplete only below the longest header the parser takes.
            assert!(input.len() < proxy::MAX_HEADER);
        }
        Ok(Parsed::NotProxy) | Err(_) => {}
    }
});
