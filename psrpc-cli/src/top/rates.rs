//! The arithmetic of `psrpc top`: rates from two refreshes, one row per
//! service, method and server, and their order. Nothing here does I/O.
//!
//! The servers' counters (`requests`, `errors`) are cumulative since each
//! server started: a rate is the difference between two refreshes divided
//! by the time between the two reports (both times from the server's own
//! clock, `Report::sent_at`). A server that restarted (its counters went
//! down, or it started anew) or that was not in the previous refresh
//! counts from zero since it started. The latency quantiles are since each
//! server started too; a row shows the highest of its servers' (and of its
//! methods', for a service).

use std::collections::{BTreeMap, HashMap};

use psrpc::discovery::Instance;
use psrpc::discovery::wire::{MethodStats, Report, State};

/// A live server, as the registry knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Server {
    /// Its service.
    pub(crate) service: String,
    /// Its id.
    pub(crate) server_id: String,
    /// The version it declared.
    pub(crate) version: String,
    /// Whether it is shutting down.
    pub(crate) draining: bool,
    /// Its methods: name and kind (`unary:queue`, …).
    pub(crate) methods: Vec<(String, String)>,
}

impl From<Instance> for Server {
    fn from(instance: Instance) -> Self {
        Server {
            methods: instance.methods.into_iter().map(|m| (m.name, m.kind)).collect(),
            service: instance.service,
            server_id: instance.server_id,
            version: instance.version,
            draining: instance.draining,
        }
    }
}

/// One refresh: the live servers and the statistics they answered with.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// The live servers (from heartbeats and answers).
    pub(crate) servers: Vec<Server>,
    /// The answers to the statistics query, by server id.
    pub(crate) reports: HashMap<String, Report>,
}

impl Sample {
    /// A refresh from the registry's servers and the statistics answers.
    pub(crate) fn new(servers: Vec<Server>, reports: Vec<Report>) -> Self {
        Sample { servers, reports: reports.into_iter().map(|r| (r.server_id.clone(), r)).collect() }
    }
}

/// What a row shows. Rates are `None` until two refreshes are known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Figures {
    /// Requests (and streams) ended per second.
    pub(crate) calls: Option<f64>,
    /// Of those, failed per second.
    pub(crate) errors: Option<f64>,
    /// Median handling time (microseconds, 0 when unknown).
    pub(crate) p50_micros: u64,
    /// 99th percentile handling time (microseconds, 0 when unknown).
    pub(crate) p99_micros: u64,
    /// Requests and streams being handled now.
    pub(crate) in_flight: u64,
}

impl Figures {
    /// Adds `other` in: rates and in-flight counts add up, quantiles take the highest.
    fn add(&mut self, other: &Figures) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.calls = sum(self.calls, other.calls);
        self.errors = sum(self.errors, other.errors);
        self.p50_micros = self.p50_micros.max(other.p50_micros);
        self.p99_micros = self.p99_micros.max(other.p99_micros);
        self.in_flight += other.in_flight;
    }
}

/// One method of a service, over all its servers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodRow {
    /// The method name.
    pub(crate) name: String,
    /// Its kind as the servers declared it (`-` when not known yet).
    pub(crate) kind: String,
    /// Its figures.
    pub(crate) figures: Figures,
}

/// One server of a service, over all its methods.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerRow {
    /// The server id.
    pub(crate) name: String,
    /// The version it declared.
    pub(crate) version: String,
    /// Whether it is shutting down.
    pub(crate) draining: bool,
    /// Its figures.
    pub(crate) figures: Figures,
}

/// One service, over all its servers and methods.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceRow {
    /// The service name.
    pub(crate) name: String,
    /// Its figures.
    pub(crate) figures: Figures,
    /// Its methods.
    pub(crate) methods: Vec<MethodRow>,
    /// Its live servers (the instances).
    pub(crate) servers: Vec<ServerRow>,
}

/// The rows of a refresh, given the one before it (`None` for the first:
/// no rates yet), sorted by name.
pub(crate) fn rows(previous: Option<&Sample>, current: &Sample) -> Vec<ServiceRow> {
    // Servers that answered before the registry heard of them count too.
    let mut servers = current.servers.clone();
    for report in current.reports.values() {
        if !servers.iter().any(|s| s.server_id == report.server_id) {
            servers.push(Server {
                service: report.service.clone(),
                server_id: report.server_id.clone(),
                version: report.version.clone(),
                draining: report.state != State::Serving as i32,
                methods: Vec::new(),
            });
        }
    }
    let mut services: BTreeMap<&str, ServiceRow> = BTreeMap::new();
    for server in &servers {
        let service = services.entry(&server.service).or_insert_with(|| ServiceRow {
            name: server.service.clone(),
            figures: Figures::default(),
            methods: Vec::new(),
            servers: Vec::new(),
        });
        let mut row = ServerRow {
            name: server.server_id.clone(),
            version: server.version.clone(),
            draining: server.draining,
            figures: Figures::default(),
        };
        let report = current.reports.get(&server.server_id);
        let before = previous.map(|p| p.reports.get(&server.server_id));
        for (method, kind) in method_names(server, report) {
            let figures = report.map(|r| figures(before, r, &method)).unwrap_or_default();
            row.figures.add(&figures);
            let at = match service.methods.iter().position(|m| m.name == method) {
                Some(at) => at,
                None => {
                    service.methods.push(MethodRow { name: method, kind: "-".to_owned(), figures: Figures::default() });
                    service.methods.len() - 1
                }
            };
            let method_row = &mut service.methods[at];
            method_row.figures.add(&figures);
            if let Some(kind) = kind.filter(|_| method_row.kind == "-") {
                method_row.kind = kind;
            }
        }
        service.figures.add(&row.figures);
        service.servers.push(row);
    }
    let mut rows: Vec<ServiceRow> = services.into_values().collect();
    for row in &mut rows {
        Sort::NAME.apply(&mut row.methods);
        Sort::NAME.apply(&mut row.servers);
    }
    rows
}

/// The methods of `server`: those it declared (with their kinds) and those it has statistics of.
fn method_names(server: &Server, report: Option<&Report>) -> Vec<(String, Option<String>)> {
    let mut names: Vec<(String, Option<String>)> =
        server.methods.iter().map(|(name, kind)| (name.clone(), Some(kind.clone()))).collect();
    for stats in report.map_or(&[][..], |r| &r.stats[..]) {
        if !names.iter().any(|(name, _)| *name == stats.method) {
            names.push((stats.method.clone(), None));
        }
    }
    names
}

/// The figures of `method` in `report`, with rates against `before`: the
/// same server's report in the previous refresh (`None` for no previous
/// refresh, `Some(None)` for a server that was not in it).
fn figures(before: Option<Option<&Report>>, report: &Report, method: &str) -> Figures {
    let stats_of = |r: &Report| r.stats.iter().find(|s| s.method == method).cloned().unwrap_or_default();
    let now = stats_of(report);
    let rates = before.and_then(|before| {
        let since_start = (MethodStats::default(), report.started_at);
        let (base, since) = match before {
            Some(b) if b.started_at == report.started_at => {
                let then = stats_of(b);
                if now.requests >= then.requests && now.errors >= then.errors { (then, b.sent_at) } else { since_start }
            }
            _ => since_start,
        };
        let seconds = report.sent_at.saturating_sub(since) as f64 / 1e9;
        (seconds > 0.0)
            .then(|| ((now.requests - base.requests) as f64 / seconds, (now.errors - base.errors) as f64 / seconds))
    });
    Figures {
        calls: rates.map(|(calls, _)| calls),
        errors: rates.map(|(_, errors)| errors),
        p50_micros: now.p50_micros,
        p99_micros: now.p99_micros,
        in_flight: now.in_flight,
    }
}

/// A row that can be sorted.
pub(crate) trait Row {
    /// Its name (service, method or server id).
    fn name(&self) -> &str;
    /// Its figures.
    fn figures(&self) -> &Figures;
}

impl Row for ServiceRow {
    fn name(&self) -> &str {
        &self.name
    }
    fn figures(&self) -> &Figures {
        &self.figures
    }
}

impl Row for MethodRow {
    fn name(&self) -> &str {
        &self.name
    }
    fn figures(&self) -> &Figures {
        &self.figures
    }
}

impl Row for ServerRow {
    fn name(&self) -> &str {
        &self.name
    }
    fn figures(&self) -> &Figures {
        &self.figures
    }
}

/// What the rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// Calls per second.
    Calls,
    /// Errors per second.
    Errors,
    /// 99th percentile latency.
    P99,
    /// Name.
    Name,
}

impl SortKey {
    /// The column title the key sorts on.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SortKey::Calls => "calls/s",
            SortKey::Errors => "errors/s",
            SortKey::P99 => "p99",
            SortKey::Name => "name",
        }
    }
}

/// A sort key and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    /// What to sort by.
    pub(crate) key: SortKey,
    /// Highest (or last name) first.
    pub(crate) descending: bool,
}

impl Default for Sort {
    /// The busiest first.
    fn default() -> Self {
        Sort { key: SortKey::Calls, descending: true }
    }
}

impl Sort {
    /// By name, A to Z.
    const NAME: Sort = Sort { key: SortKey::Name, descending: false };

    /// The sort after pressing `key`'s key: the same key again reverses
    /// the order, another one sorts by it in its natural order (names A to
    /// Z, figures highest first).
    pub(crate) fn by(self, key: SortKey) -> Sort {
        if key == self.key { self.reversed() } else { Sort { key, descending: key != SortKey::Name } }
    }

    /// The same key, the other way round.
    pub(crate) fn reversed(self) -> Sort {
        Sort { descending: !self.descending, ..self }
    }

    /// Sorts `rows`; equal figures are sorted by name, A to Z.
    pub(crate) fn apply<R: Row>(self, rows: &mut [R]) {
        let figure = |r: &R| {
            let f = r.figures();
            match self.key {
                // Unknown rates sort below zero.
                SortKey::Calls => f.calls.unwrap_or(-1.0),
                SortKey::Errors => f.errors.unwrap_or(-1.0),
                SortKey::P99 => f.p99_micros as f64,
                SortKey::Name => 0.0,
            }
        };
        rows.sort_by(|a, b| {
            let order = match self.key {
                SortKey::Name => a.name().cmp(b.name()),
                _ => figure(a).total_cmp(&figure(b)),
            };
            let order = if self.descending { order.reverse() } else { order };
            order.then_with(|| a.name().cmp(b.name()))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    fn server(service: &str, id: &str) -> Server {
        Server {
            service: service.into(),
            server_id: id.into(),
            version: "1".into(),
            draining: false,
            methods: vec![("Echo".into(), "unary:queue".into()), ("Idle".into(), "multi".into())],
        }
    }

    fn stats(method: &str, requests: u64, errors: u64) -> MethodStats {
        MethodStats { method: method.into(), requests, errors, in_flight: 1, p50_micros: 100, p99_micros: 900 }
    }

    fn report(service: &str, id: &str, started_at: i64, sent_at: i64, stats: Vec<MethodStats>) -> Report {
        Report { service: service.into(), server_id: id.into(), started_at, sent_at, stats, ..Default::default() }
    }

    #[test]
    fn the_first_refresh_has_no_rates() {
        let sample =
            Sample::new(vec![server("Svc", "a")], vec![report("Svc", "a", 0, SECOND, vec![stats("Echo", 5, 1)])]);
        let rows = rows(None, &sample);
        assert_eq!(rows.len(), 1);
        let svc = &rows[0];
        assert_eq!((svc.name.as_str(), svc.servers.len()), ("Svc", 1));
        assert_eq!((svc.figures.calls, svc.figures.errors), (None, None));
        assert_eq!((svc.figures.p99_micros, svc.figures.in_flight), (900, 1));
        let names: Vec<_> = svc.methods.iter().map(|m| (m.name.as_str(), m.kind.as_str())).collect();
        assert_eq!(names, [("Echo", "unary:queue"), ("Idle", "multi")]);
    }

    #[test]
    fn rates_are_differences_over_the_servers_own_time_summed_per_method_and_service() {
        let servers = vec![server("Svc", "a"), server("Svc", "b")];
        let before = Sample::new(
            servers.clone(),
            vec![
                report("Svc", "a", 0, 10 * SECOND, vec![stats("Echo", 100, 10)]),
                report("Svc", "b", 0, 10 * SECOND, vec![stats("Echo", 50, 0)]),
            ],
        );
        let now = Sample::new(
            servers,
            vec![
                // 2 s later: 40 calls, 4 errors: 20/s and 2/s.
                report("Svc", "a", 0, 12 * SECOND, vec![stats("Echo", 140, 14)]),
                // 1 s later: 10 calls; a first call of Idle.
                report("Svc", "b", 0, 11 * SECOND, vec![stats("Echo", 60, 0), stats("Idle", 1, 1)]),
            ],
        );
        let rows = rows(Some(&before), &now);
        let svc = &rows[0];
        assert_eq!(svc.figures.calls, Some(31.0));
        assert_eq!(svc.figures.errors, Some(3.0));
        assert_eq!(svc.figures.in_flight, 3);
        let echo = &svc.methods[0];
        assert_eq!((echo.figures.calls, echo.figures.errors), (Some(30.0), Some(2.0)));
        let idle = &svc.methods[1];
        assert_eq!((idle.figures.calls, idle.figures.errors), (Some(1.0), Some(1.0)));
        let per_server: Vec<_> = svc.servers.iter().map(|s| (s.name.as_str(), s.figures.calls)).collect();
        assert_eq!(per_server, [("a", Some(20.0)), ("b", Some(11.0))]);
    }

    #[test]
    fn restarted_and_new_servers_count_from_zero_since_they_started() {
        let before = Sample::new(
            vec![server("Svc", "a")],
            vec![report("Svc", "a", 0, 10 * SECOND, vec![stats("Echo", 100, 10)])],
        );
        let now = Sample::new(
            vec![server("Svc", "a"), server("Svc", "b")],
            vec![
                // Its counter went down: restarted 2 s ago.
                report("Svc", "a", 0, 12 * SECOND, vec![stats("Echo", 6, 2)]),
                // New since the previous refresh: started 1 s before it answered.
                report("Svc", "b", 10 * SECOND, 11 * SECOND, vec![stats("Echo", 3, 0)]),
            ],
        );
        let mut restarted = now.clone();
        restarted.reports.get_mut("a").expect("a").started_at = 10 * SECOND;
        let rows = rows(Some(&before), &restarted);
        let per_server: Vec<_> = rows[0].servers.iter().map(|s| (s.figures.calls, s.figures.errors)).collect();
        assert_eq!(per_server, [(Some(3.0), Some(1.0)), (Some(3.0), Some(0.0))]);
        // The same, when only the counters tell: counted since the server's start.
        let counters_only = super::rows(Some(&before), &now);
        assert_eq!(counters_only[0].servers[0].figures.calls, Some(0.5));
    }

    #[test]
    fn servers_without_an_answer_are_instances_without_figures() {
        let now = Sample::new(vec![server("Svc", "a"), server("Svc", "b"), server("Other", "c")], vec![]);
        let rows = rows(Some(&Sample::default()), &now);
        let names: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.servers.len())).collect();
        assert_eq!(names, [("Other", 1), ("Svc", 2)]);
        assert_eq!(rows[1].figures, Figures::default());
        // And answers from servers the registry has not heard of yet count as instances.
        let early = Sample::new(vec![], vec![report("New", "n", 0, SECOND, vec![stats("Go", 1, 0)])]);
        let rows = super::rows(None, &early);
        assert_eq!((rows[0].name.as_str(), rows[0].servers.len()), ("New", 1));
        assert_eq!((rows[0].methods[0].name.as_str(), rows[0].methods[0].kind.as_str()), ("Go", "-"));
    }

    fn row(name: &str, calls: Option<f64>, errors: f64, p99: u64) -> MethodRow {
        let figures = Figures { calls, errors: Some(errors), p99_micros: p99, ..Default::default() };
        MethodRow { name: name.into(), kind: "-".into(), figures }
    }

    fn sorted(sort: Sort, rows: &mut [MethodRow]) -> Vec<&str> {
        sort.apply(rows);
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn sorting_by_each_key_both_ways_ties_by_name() {
        let mut rows = vec![
            row("b", Some(1.0), 5.0, 10),
            row("a", Some(1.0), 0.0, 30),
            row("c", None, 1.0, 20),
            row("d", Some(9.0), 0.0, 0),
        ];
        let calls = Sort::default();
        assert_eq!(sorted(calls, &mut rows), ["d", "a", "b", "c"]);
        assert_eq!(sorted(calls.by(SortKey::Calls), &mut rows), ["c", "a", "b", "d"]);
        assert_eq!(sorted(calls.by(SortKey::Errors), &mut rows), ["b", "c", "a", "d"]);
        assert_eq!(sorted(calls.by(SortKey::P99), &mut rows), ["a", "c", "b", "d"]);
        let names = calls.by(SortKey::Name);
        assert_eq!(names, Sort { key: SortKey::Name, descending: false });
        assert_eq!(sorted(names, &mut rows), ["a", "b", "c", "d"]);
        assert_eq!(sorted(names.reversed(), &mut rows), ["d", "c", "b", "a"]);
        assert_eq!(names.by(SortKey::Name), names.reversed());
    }
}
