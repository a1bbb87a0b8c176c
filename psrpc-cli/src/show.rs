//! Tables and JSON objects for `ls`, `info`, `stats` and `ping`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use psrpc::discovery::wire::{Report, State};

/// Columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn uptime_secs(report: &Report) -> u64 {
    let started = SystemTime::UNIX_EPOCH + Duration::from_nanos(report.started_at.max(0).unsigned_abs());
    SystemTime::now().duration_since(started).unwrap_or(Duration::ZERO).as_secs()
}

fn uptime(report: &Report) -> String {
    match uptime_secs(report) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// The declared version, or `-`.
fn version(report: &Report) -> &str {
    if report.version.is_empty() { "-" } else { &report.version }
}

fn state(report: &Report) -> &'static str {
    match State::try_from(report.state) {
        Ok(State::Serving) => "serving",
        Ok(State::Draining) => "draining",
        _ => "gone",
    }
}

/// `ls`: one row per server.
pub(crate) fn servers(reports: &[Report]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.service.clone(),
                r.server_id.clone(),
                version(r).to_owned(),
                uptime(r),
                state(r).to_owned(),
                r.methods.len().to_string(),
            ]
        })
        .collect();
    table(&["SERVICE", "SERVER", "VERSION", "UPTIME", "STATE", "METHODS"], &rows)
}

/// `info`: each server, then its methods with kinds and topics.
pub(crate) fn info(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        let mut metadata: Vec<String> = r.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
        metadata.sort();
        let _ = writeln!(
            out,
            "{} {} version={} uptime={} state={} {}",
            r.service,
            r.server_id,
            version(r),
            uptime(r),
            state(r),
            metadata.join(" ")
        );
        let rows: Vec<Vec<String>> = r
            .methods
            .iter()
            .map(|m| {
                let topics: Vec<String> =
                    m.topics.iter().filter(|t| !t.parts.is_empty()).map(|t| t.parts.join(".")).collect();
                vec![m.name.clone(), m.kind.clone(), topics.join(", ")]
            })
            .collect();
        for line in table(&["  METHOD", "KIND", "TOPICS"], &rows.iter().map(|r| indent(r)).collect::<Vec<_>>()).lines()
        {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn indent(row: &[String]) -> Vec<String> {
    let mut row = row.to_vec();
    row[0] = format!("  {}", row[0]);
    row
}

/// A duration in microseconds for people: `-` for none, `850µs`, `1.8ms`, `2.05s`.
pub(crate) fn micros(us: u64) -> String {
    match us {
        0 => "-".to_owned(),
        us if us < 1000 => format!("{us}µs"),
        us if us < 1_000_000 => format!("{:.1}ms", us as f64 / 1000.0),
        us => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// `ping`: one row per server with its round trip.
pub(crate) fn pongs(pongs: &[psrpc::discovery::Pong]) -> String {
    let rows: Vec<Vec<String>> = pongs
        .iter()
        .map(|p| {
            let r = &p.report;
            let round_trip = micros(u64::try_from(p.round_trip.as_micros()).unwrap_or(u64::MAX).max(1));
            vec![r.service.clone(), r.server_id.clone(), version(r).to_owned(), state(r).to_owned(), round_trip]
        })
        .collect();
    table(&["SERVICE", "SERVER", "VERSION", "STATE", "ROUND_TRIP"], &rows)
}

/// One server's report as a JSON object (what `--json` prints per server).
pub(crate) fn report_json(r: &Report) -> serde_json::Value {
    let methods: Vec<serde_json::Value> = r
        .methods
        .iter()
        .map(|m| {
            let topics: Vec<&Vec<String>> = m.topics.iter().map(|t| &t.parts).filter(|p| !p.is_empty()).collect();
            serde_json::json!({ "name": m.name, "kind": m.kind, "topics": topics })
        })
        .collect();
    let stats: Vec<serde_json::Value> = r
        .stats
        .iter()
        .map(|s| {
            serde_json::json!({
                "method": s.method, "requests": s.requests, "errors": s.errors, "in_flight": s.in_flight,
                "p50_us": s.p50_micros, "p99_us": s.p99_micros,
            })
        })
        .collect();
    serde_json::json!({
        "service": r.service,
        "server": r.server_id,
        "version": r.version,
        "state": state(r),
        "uptime_s": uptime_secs(r),
        "metadata": r.metadata,
        "methods": methods,
        "stats": stats,
    })
}

/// `stats`: one row per server and method.
pub(crate) fn stats(reports: &[Report]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .flat_map(|r| {
            r.stats.iter().map(|s| {
                vec![
                    r.server_id.clone(),
                    s.method.clone(),
                    s.requests.to_string(),
                    s.errors.to_string(),
                    s.in_flight.to_string(),
                    micros(s.p50_micros),
                    micros(s.p99_micros),
                ]
            })
        })
        .collect();
    table(&["SERVER", "METHOD", "REQUESTS", "ERRORS", "IN_FLIGHT", "P50", "P99"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let out = table(&["A", "LONG"], &[vec!["wide cell".into(), "x".into()]]);
        assert_eq!(out, "A          LONG\nwide cell  x\n");
    }
}
