//! Discovery targets: which Service, in which namespace, on which port.

use std::fmt;
use std::str::FromStr;

/// The port of a target: a number, or the name of an EndpointSlice port.
///
/// ```
/// use psrpc_kube::{PortSpec, Target};
/// let target: Target = "kubernetes://chat.prod:grpc".parse().unwrap();
/// assert_eq!(target.port, Some(PortSpec::Name("grpc".into())));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// The pods' port number (the container port, not the Service port).
    Number(u16),
    /// The name of a port of the Service (`ports[].name` in its EndpointSlices).
    Name(String),
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Number(port) => write!(f, "{port}"),
            PortSpec::Name(name) => f.write_str(name),
        }
    }
}

/// A Kubernetes Service whose pods are discovered.
///
/// Parsed from `kubernetes://service[.namespace][:port]` (also with three
/// slashes, `kubernetes:///service.namespace:port`, as gRPC resolvers write
/// it, and with a `.svc[.cluster-domain]` suffix, which is ignored). Without a
/// namespace, discovery uses the pod's own namespace; without a port, each
/// EndpointSlice must carry exactly one port.
///
/// ```
/// use psrpc_kube::{PortSpec, Target};
/// let target: Target = "kubernetes:///chat.prod.svc.cluster.local:8080".parse().unwrap();
/// assert_eq!(target, Target::new("chat", PortSpec::Number(8080)).in_namespace("prod"));
/// assert_eq!(target.to_string(), "kubernetes://chat.prod:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The Service name (`kubernetes.io/service-name` of its EndpointSlices).
    pub service: String,
    /// The namespace, or `None` for the pod's own namespace.
    pub namespace: Option<String>,
    /// The port to reach pods on.
    pub port: Option<PortSpec>,
}

impl Target {
    /// A target for `service` in the pod's own namespace on `port`.
    ///
    /// ```
    /// use psrpc_kube::{PortSpec, Target};
    /// let target = Target::new("chat", PortSpec::Number(50051));
    /// assert_eq!(target.namespace, None);
    /// ```
    pub fn new(service: impl Into<String>, port: PortSpec) -> Self {
        Target { service: service.into(), namespace: None, port: Some(port) }
    }

    /// Sets the namespace.
    ///
    /// ```
    /// use psrpc_kube::{PortSpec, Target};
    /// let target = Target::new("chat", PortSpec::Number(50051)).in_namespace("prod");
    /// assert_eq!(target.namespace.as_deref(), Some("prod"));
    /// ```
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The label selector of the Service's EndpointSlices.
    ///
    /// ```
    /// use psrpc_kube::{PortSpec, Target};
    /// assert_eq!(Target::new("chat", PortSpec::Number(1)).label_selector(), "kubernetes.io/service-name=chat");
    /// ```
    pub fn label_selector(&self) -> String {
        format!("kubernetes.io/service-name={}", self.service)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kubernetes://{}", self.service)?;
        if let Some(namespace) = &self.namespace {
            write!(f, ".{namespace}")?;
        }
        if let Some(port) = &self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// Why a target string was rejected.
///
/// ```
/// let err = "http://chat:80".parse::<psrpc_kube::Target>().unwrap_err();
/// assert!(err.to_string().contains("kubernetes://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid kubernetes target {target:?}: {reason}")]
pub struct TargetError {
    target: String,
    reason: &'static str,
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(target: &str) -> Result<Self, TargetError> {
        let fail = |reason| TargetError { target: target.to_owned(), reason };
        let rest = target.strip_prefix("kubernetes://").ok_or_else(|| fail("the scheme must be kubernetes://"))?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port).ok_or_else(|| fail("the port is empty or invalid"))?)),
            None => (rest, None),
        };
        let mut labels = host.split('.');
        let service = labels.next().unwrap_or_default();
        let namespace = labels.next();
        match labels.next() {
            None | Some("svc") => {}
            Some(_) => return Err(fail("expected service[.namespace[.svc[.domain]]]")),
        }
        if !is_dns_label(service) {
            return Err(fail("the service name is not a DNS label"));
        }
        if namespace.is_some_and(|ns| !is_dns_label(ns)) {
            return Err(fail("the namespace is not a DNS label"));
        }
        Ok(Target { service: service.to_owned(), namespace: namespace.map(str::to_owned), port })
    }
}

fn parse_port(port: &str) -> Option<PortSpec> {
    if port.is_empty() {
        return None;
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return port.parse::<u16>().ok().filter(|p| *p > 0).map(PortSpec::Number);
    }
    is_dns_label(port).then(|| PortSpec::Name(port.to_owned()))
}

/// RFC 1123 label: lowercase alphanumerics and `-`, 1 to 63 characters, no
/// leading or trailing `-`.
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Target, TargetError> {
        s.parse()
    }

    #[test]
    fn parses_the_forms_grpc_resolvers_use() {
        let full = Target::new("chat", PortSpec::Number(50051)).in_namespace("prod");
        assert_eq!(parse("kubernetes://chat.prod:50051").unwrap(), full);
        assert_eq!(parse("kubernetes:///chat.prod:50051").unwrap(), full);
        assert_eq!(parse("kubernetes://chat.prod.svc.cluster.local:50051").unwrap(), full);
        assert_eq!(
            parse("kubernetes://chat:grpc").unwrap(),
            Target { service: "chat".into(), namespace: None, port: Some(PortSpec::Name("grpc".into())) }
        );
        assert_eq!(parse("kubernetes://chat").unwrap(), Target { service: "chat".into(), namespace: None, port: None });
    }

    #[test]
    fn rejects_what_kubernetes_would_not_accept() {
        for bad in [
            "dns://chat:1",
            "kubernetes://",
            "kubernetes://Chat:1",
            "kubernetes://chat:0",
            "kubernetes://chat:70000",
            "kubernetes://chat:",
            "kubernetes://chat.ns.other:1",
            "kubernetes://-chat:1",
            "kubernetes://chat:Grpc",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn displays_as_it_parses() {
        for s in ["kubernetes://chat.prod:50051", "kubernetes://chat:grpc", "kubernetes://chat"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
        assert_eq!(parse("kubernetes://chat").unwrap().label_selector(), "kubernetes.io/service-name=chat");
    }
}
