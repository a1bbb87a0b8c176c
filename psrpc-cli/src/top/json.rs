//! `psrpc top --json`: one JSON object per refresh, for scripts.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::rates::{Figures, ServiceRow};

/// The refresh made at `at` as one JSON object: `time` (Unix seconds) and
/// `services`, each with its `instances` count, figures, `methods` and
/// `servers`. Rates are `null` in the first refresh.
pub(crate) fn snapshot(services: &[ServiceRow], at: SystemTime) -> Value {
    let time = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let services: Vec<Value> = services
        .iter()
        .map(|s| {
            let mut service = figures(&s.figures);
            service["service"] = json!(s.name);
            service["instances"] = json!(s.servers.len());
            service["methods"] = s
                .methods
                .iter()
                .map(|m| {
                    let mut method = figures(&m.figures);
                    method["method"] = json!(m.name);
                    method["kind"] = json!(m.kind);
                    method
                })
                .collect();
            service["servers"] = s
                .servers
                .iter()
                .map(|r| {
                    let mut server = figures(&r.figures);
                    server["server_id"] = json!(r.name);
                    server["version"] = json!(r.version);
                    server["draining"] = json!(r.draining);
                    server
                })
                .collect();
            service
        })
        .collect();
    json!({ "time": time, "services": services })
}

fn figures(f: &Figures) -> Value {
    json!({
        "calls_per_sec": f.calls,
        "errors_per_sec": f.errors,
        "p50_micros": f.p50_micros,
        "p99_micros": f.p99_micros,
        "in_flight": f.in_flight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::{MethodRow, ServerRow};

    #[test]
    fn services_with_their_rates_methods_and_servers() {
        let figures = Figures { calls: Some(2.5), errors: None, p50_micros: 10, p99_micros: 20, in_flight: 1 };
        let service = ServiceRow {
            name: "Svc".into(),
            figures,
            methods: vec![MethodRow { name: "M".into(), kind: "multi".into(), figures }],
            servers: vec![ServerRow { name: "SRV_a".into(), version: "".into(), draining: false, figures }],
        };
        let value = snapshot(&[service], SystemTime::UNIX_EPOCH);
        let expected_figures =
            json!({"calls_per_sec": 2.5, "errors_per_sec": null, "p50_micros": 10, "p99_micros": 20, "in_flight": 1});
        let with = |extra: Value| {
            let mut v = expected_figures.clone();
            v.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            v
        };
        let expected = json!({
            "time": 0.0,
            "services": [with(json!({
                "service": "Svc",
                "instances": 1,
                "methods": [with(json!({"method": "M", "kind": "multi"}))],
                "servers": [with(json!({"server_id": "SRV_a", "version": "", "draining": false}))],
            }))],
        });
        assert_eq!(value, expected);
    }
}
