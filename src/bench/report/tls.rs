//! The TLS part of the report: issue 12's measurements (full and resumed
//! handshakes per second with the server's CPU per handshake, bulk MB/s
//! with its CPU per MB, memory per idle TLS connection) for netloop, Node
//! `tls` and Bun `node:tls`, and its targets, all as ratios to Node.
//!
//! The resumed row needs one derivation. Node's server issues no new
//! ticket on a resumed handshake and rustls's client uses each ticket
//! once, so against Node a third of the "resumed" run's connections are
//! full handshakes (src/bench/tls.rs says why). The run counts both
//! kinds, so the CPU per resumed handshake is the run's CPU less its full
//! handshakes at the full-handshake run's price (the median of the
//! tlsecdsa rounds), over the resumed ones. A server that renews tickets
//! resumes every connection, and the derivation then changes nothing.

use super::{fields, fmt, median, ratio, truthy, Field, Report, Targets, Value};

/// The scenarios this module reports, in compare.sh's names.
const SCENARIOS: [&str; 5] = ["tlsecdsa", "tlsrsa", "tlsresume", "tlsbulk", "tlsidle"];

/// The servers with a TLS peer, in the order of the rows.
const SERVERS: [&str; 3] = ["netloop", "node", "bun-net"];

/// One column: a title and how a run gives its value.
struct Col {
    title: &'static str,
    value: fn(&Report<'_>, &str, &Value) -> Option<f64>,
    /// Ratio to Node's figure beside it.
    vs_node: bool,
    /// Shown as a percentage ("60.0%").
    percent: bool,
}

/// A column with a ratio to Node.
const fn col(title: &'static str, value: fn(&Report<'_>, &str, &Value) -> Option<f64>) -> Col {
    Col {
        title,
        value,
        vs_node: true,
        percent: false,
    }
}

/// A column without one.
const fn plain(title: &'static str, value: fn(&Report<'_>, &str, &Value) -> Option<f64>) -> Col {
    Col {
        vs_node: false,
        ..col(title, value)
    }
}

/// One of issue 12's targets: netloop's figure at most `bound` × Node's.
struct TlsTarget {
    label: &'static str,
    scenario: &'static str,
    bound: f64,
    unit: &'static str,
    netloop: Option<f64>,
    node: Option<f64>,
}

pub(super) fn get(run: &Value, f: Field) -> Option<f64> {
    run.get(f.key)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
}

/// The generator's CPU use: its CPU seconds over the measured seconds.
pub(super) fn generator_use(run: &Value) -> Option<f64> {
    Some(get(run, fields::CLIENT_CPU_S)? / get(run, fields::DURATION_S)?)
}

impl Report<'_> {
    /// The server's row label in the TLS tables.
    fn tls_name(server: &str) -> &'static str {
        match server {
            "netloop" => "netloop (`netloop echo --tls-cert`)",
            "node" => "Node `tls` (`node_tls_echo.js`)",
            "bun-net" => "Bun `node:tls` (`node_tls_echo.js`)",
            _ => "?",
        }
    }

    fn tls_rows(&self) -> Vec<&'static str> {
        SERVERS
            .into_iter()
            .filter(|s| self.servers.contains(s))
            .collect()
    }

    /// The median over `server`'s runs of `scenario` of a per-run value.
    fn tls_med(
        &self,
        scenario: &str,
        server: &str,
        value: fn(&Report<'_>, &str, &Value) -> Option<f64>,
    ) -> Option<f64> {
        let mut v: Vec<f64> = self
            .runs
            .of(scenario, server)
            .iter()
            .filter_map(|r| value(self, server, r))
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    }

    /// Server CPU µs per resumed handshake in one tlsresume run: the full
    /// handshakes of the run at the tlsecdsa median's price taken out.
    fn resumed_cpu(&self, server: &str, run: &Value) -> Option<f64> {
        let cpu_s = get(run, fields::SERVER_CPU_S)?;
        let full = get(run, fields::HANDSHAKES_FULL)?;
        let resumed = get(run, fields::HANDSHAKES_RESUMED)?;
        if resumed <= 0.0 {
            return None;
        }
        let full_price = if full > 0.0 {
            self.med("tlsecdsa", server, fields::SERVER_CPU_US_PER_CONN)?
        } else {
            0.0
        };
        // The runs count the handshakes finished in the measured window,
        // the CPU is over the same window.
        Some((cpu_s * 1e6 - full * full_price) / resumed)
    }

    /// One TLS table: a row per TLS server; "not built yet" for netloop
    /// until its TLS server exists, "unavailable" for a missing runtime.
    fn tls_table(&mut self, scenario: &str, cols: &[Col]) {
        let mut head = vec!["server", "runs"];
        for c in cols {
            head.push(c.title);
            if c.vs_node {
                head.push("÷ Node");
            }
        }
        let rule: Vec<&str> = (0..head.len())
            .map(|i| if i == 0 { " --- " } else { " ---: " })
            .collect();
        self.p(format!("| {} |", head.join(" | ")));
        self.p(format!("|{}|", rule.join("|")));
        let tls_unavailable: Vec<&str> = self
            .s
            .or("TLS_UNAVAILABLE", "")
            .split_whitespace()
            .collect();
        for sv in self.tls_rows() {
            let mut row = vec![Self::tls_name(sv).to_owned()];
            let missing = if tls_unavailable.contains(&sv) {
                Some("not built yet")
            } else if self.unavailable.contains(&sv) {
                Some("unavailable")
            } else {
                None
            };
            match missing {
                Some(why) => {
                    row.push(why.to_owned());
                    for c in cols {
                        row.push("–".to_owned());
                        if c.vs_node {
                            row.push("–".to_owned());
                        }
                    }
                }
                None => {
                    row.push(self.runs.count(scenario, sv).to_string());
                    for c in cols {
                        let v = self.tls_med(scenario, sv, c.value);
                        row.push(match (v, c.percent) {
                            (Some(_), true) => format!("{}%", fmt(v)),
                            _ => fmt(v),
                        });
                        if c.vs_node {
                            row.push(ratio(v, self.tls_med(scenario, "node", c.value)));
                        }
                    }
                }
            }
            self.p(format!("| {} |", row.join(" | ")));
        }
        self.p("");
    }

    /// What the handshakes negotiated, from the first run that says.
    fn negotiated(&self) -> Option<String> {
        SCENARIOS.iter().find_map(|sc| {
            SERVERS.iter().find_map(|sv| {
                self.runs.of(sc, sv).iter().find_map(|r| {
                    let text = |f: Field| match r.get(f.key) {
                        Some(Value::String(s)) => Some(s.clone()),
                        _ => None,
                    };
                    Some(format!(
                        "{}, {}, {}",
                        text(fields::TLS_VERSION)?.replace('_', "."),
                        text(fields::TLS_GROUP)?,
                        text(fields::TLS_CIPHER)?.replace("TLS13_", "TLS_")
                    ))
                })
            })
        })
    }

    /// The TLS sections, when the run has any TLS scenario.
    pub(super) fn tls(&mut self) {
        if !SCENARIOS.iter().any(|sc| self.runs.has(sc)) {
            return;
        }
        let s = self.s;
        self.p("## TLS");
        self.p("");
        self.p(format!(
            "Issue 12's measurements. Negotiated: {}. Each server has a certificate made for the run by `netloop tls-cert`; the generator (`netloop bench --tls`, rustls on aws-lc-rs, one shared client config) verifies it. Handshake rows: {} workers, each connect + handshake + {}-byte echo + close_notify + close.",
            self.negotiated().unwrap_or_else(|| "?".to_owned()),
            s.show("TLS_CONNS"),
            s.show("SIZE"),
        ));
        self.p("");
        let hs_cols = || {
            [
                col("handshakes/s", |_, _, r| get(r, fields::CONNS_S)),
                col("server CPU µs/handshake", |_, _, r| {
                    get(r, fields::SERVER_CPU_US_PER_CONN)
                }),
                Col {
                    percent: true,
                    ..plain("server CPU use", |_, _, r| {
                        get(r, fields::SERVER_CPU_UTIL).map(|u| 100.0 * u)
                    })
                },
                Col {
                    percent: true,
                    ..plain("generator CPU use", |_, _, r| {
                        generator_use(r).map(|u| 100.0 * u)
                    })
                },
            ]
        };
        if self.runs.has("tlsecdsa") {
            self.p("### Full handshakes, ECDSA P-256 certificate");
            self.p("");
            self.tls_table("tlsecdsa", &hs_cols());
        }
        if self.runs.has("tlsrsa") {
            self.p("### Full handshakes, RSA-2048 certificate");
            self.p("");
            self.tls_table("tlsrsa", &hs_cols());
        }
        if self.runs.has("tlsresume") {
            self.p("### Resumed handshakes (session tickets), ECDSA P-256 certificate");
            self.p("");
            self.tls_table(
                "tlsresume",
                &[
                    col("handshakes/s", |_, _, r| get(r, fields::CONNS_S)),
                    plain("resumed %", |_, _, r| {
                        let f = get(r, fields::HANDSHAKES_FULL)?;
                        let res = get(r, fields::HANDSHAKES_RESUMED)?;
                        (f + res > 0.0).then(|| 100.0 * res / (f + res))
                    }),
                    col("server CPU µs/handshake, all", |_, _, r| {
                        get(r, fields::SERVER_CPU_US_PER_CONN)
                    }),
                    col("server CPU µs/resumed handshake", |rep, sv, r| {
                        rep.resumed_cpu(sv, r)
                    }),
                ],
            );
            self.p("The last column takes the run's full handshakes out at the full-handshake row's price: Node's server sends no new ticket on a resumed handshake and the generator uses each ticket once, so against Node every third connection is a full handshake.");
            self.p("");
        }
        if self.runs.has("tlsbulk") {
            self.p(format!(
                "### Bulk: {} connection(s), {}-byte writes, echoed both ways over TLS",
                s.show("STREAM_CONNS"),
                s.show("STREAM_SIZE")
            ));
            self.p("");
            self.tls_table(
                "tlsbulk",
                &[
                    col("MB/s", |_, _, r| get(r, fields::MB_S)),
                    col("server CPU µs/MB", |_, _, r| {
                        get(r, fields::SERVER_CPU_US_PER_MB)
                    }),
                    plain("plain TCP µs/MB (stream row)", |rep, sv, _| {
                        rep.med("stream", sv, fields::SERVER_CPU_US_PER_MB)
                    }),
                ],
            );
        }
        if self.runs.has("tlsidle") {
            self.p(format!(
                "### Idle: {} TLS connections handshaken, one echo each, held",
                s.show("TLS_IDLE_CONNS")
            ));
            self.p("");
            self.tls_table(
                "tlsidle",
                &[
                    plain("established", |_, _, r| get(r, fields::ESTABLISHED)),
                    col("RSS KiB/conn", |_, _, r| get(r, fields::IDLE_KIB_PER_CONN)),
                    col("anon KiB/conn", |_, _, r| {
                        get(r, fields::IDLE_ANON_KIB_PER_CONN)
                    }),
                    plain("plain TCP RSS KiB/conn (idle row)", |rep, sv, _| {
                        rep.med("idle", sv, fields::IDLE_KIB_PER_CONN)
                    }),
                ],
            );
        }
    }

    /// Issue 12's targets, each netloop's figure against Node's.
    pub(super) fn tls_targets(&self, t: &mut Targets) {
        if !SCENARIOS.iter().any(|sc| self.runs.has(sc)) {
            return;
        }
        let not_built = self
            .s
            .or("TLS_UNAVAILABLE", "")
            .split_whitespace()
            .any(|s| s == "netloop");
        let resumed = |rep: &Report<'_>, sv: &str, r: &Value| rep.resumed_cpu(sv, r);
        let targets = [
            TlsTarget {
                label: "TLS: server CPU per full ECDSA P-256 handshake ≤ 0.6× Node",
                scenario: "tlsecdsa",
                bound: 0.6,
                unit: "µs",
                netloop: self.med("tlsecdsa", "netloop", fields::SERVER_CPU_US_PER_CONN),
                node: self.med("tlsecdsa", "node", fields::SERVER_CPU_US_PER_CONN),
            },
            TlsTarget {
                label: "TLS: server CPU per full RSA-2048 handshake ≤ 0.8× Node",
                scenario: "tlsrsa",
                bound: 0.8,
                unit: "µs",
                netloop: self.med("tlsrsa", "netloop", fields::SERVER_CPU_US_PER_CONN),
                node: self.med("tlsrsa", "node", fields::SERVER_CPU_US_PER_CONN),
            },
            TlsTarget {
                label: "TLS: server CPU per resumed handshake ≤ 0.5× Node",
                scenario: "tlsresume",
                bound: 0.5,
                unit: "µs",
                netloop: self.tls_med("tlsresume", "netloop", resumed),
                node: self.tls_med("tlsresume", "node", resumed),
            },
            TlsTarget {
                label: "TLS: bulk server CPU per MB ≤ 0.8× Node",
                scenario: "tlsbulk",
                bound: 0.8,
                unit: "µs/MB",
                netloop: self.med("tlsbulk", "netloop", fields::SERVER_CPU_US_PER_MB),
                node: self.med("tlsbulk", "node", fields::SERVER_CPU_US_PER_MB),
            },
            TlsTarget {
                label: "TLS: memory per idle TLS connection ≤ 0.25× Node",
                scenario: "tlsidle",
                bound: 0.25,
                unit: "KiB/conn",
                netloop: self.med("tlsidle", "netloop", fields::IDLE_KIB_PER_CONN),
                node: self.med("tlsidle", "node", fields::IDLE_KIB_PER_CONN),
            },
        ];
        for TlsTarget {
            label,
            scenario,
            bound,
            unit,
            netloop: a,
            node: n,
        } in targets
        {
            if !self.runs.has(scenario) {
                continue;
            }
            let ok = (truthy(a) && truthy(n)).then(|| a.unwrap_or(0.0) <= bound * n.unwrap_or(0.0));
            let detail = if not_built {
                format!(
                    "netloop's TLS server is not built yet; Node: {} {unit}",
                    fmt(n)
                )
            } else {
                format!("{} vs {} {unit} ({})", fmt(a), fmt(n), ratio(a, n))
            };
            let miss = ok.map(|_| a.unwrap_or(0.0) / (bound * n.unwrap_or(1.0)) - 1.0);
            t.check(label, ok, detail, not_built.then_some("not measured"), miss);
        }
    }
}
