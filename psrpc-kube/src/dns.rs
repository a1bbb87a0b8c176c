//! Discovery without API permissions: polling the DNS of a headless Service.
//!
//! A headless Service (`clusterIP: None`) resolves to the addresses of its
//! ready pods. With a numeric port the source polls A and AAAA records of
//! `service.namespace.svc.<cluster domain>` and names each pod by its
//! address; with a named port it polls the SRV records
//! `_<port>._tcp.service.namespace.svc.<cluster domain>`, which give the
//! port, and names each pod by the first label of its SRV target. DNS only
//! lists ready pods, so every pod found is ready and terminating pods
//! simply disappear.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

use crate::env::pod_namespace;
use crate::membership::Membership;
use crate::pod::{Conditions, Pod, PodSet};
use crate::target::{PortSpec, Target};

/// How the DNS source polls.
///
/// ```
/// use std::time::Duration;
/// let options = psrpc_kube::DnsOptions::default().interval(Duration::from_secs(1)).cluster_domain("cluster.example");
/// assert!(format!("{options:?}").contains("interval: 1s"));
/// ```
#[derive(Clone, Debug)]
pub struct DnsOptions {
    cluster_domain: String,
    interval: Duration,
    nameservers: Vec<SocketAddr>,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions { cluster_domain: "cluster.local".into(), interval: Duration::from_secs(5), nameservers: Vec::new() }
    }
}

impl DnsOptions {
    /// Sets the cluster's DNS domain (default `cluster.local`).
    ///
    /// ```
    /// let options = psrpc_kube::DnsOptions::default().cluster_domain("cluster.example");
    /// assert!(format!("{options:?}").contains(r#"cluster_domain: "cluster.example""#));
    /// ```
    #[must_use]
    pub fn cluster_domain(mut self, domain: impl Into<String>) -> Self {
        self.cluster_domain = domain.into();
        self
    }

    /// Sets the time between polls (default 5 s; at least 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = psrpc_kube::DnsOptions::default().interval(Duration::ZERO);
    /// assert!(format!("{options:?}").contains("interval: 1ms"));
    /// ```
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Asks these name servers instead of the system's (`/etc/resolv.conf`,
    /// the default).
    ///
    /// ```
    /// let options = psrpc_kube::DnsOptions::default().nameservers(["10.96.0.10:53".parse().unwrap()]);
    /// assert!(format!("{options:?}").contains("nameservers: [10.96.0.10:53]"));
    /// ```
    #[must_use]
    pub fn nameservers(mut self, servers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.nameservers = servers.into_iter().collect();
        self
    }
}

/// Why the DNS source could not start.
///
/// ```
/// use psrpc_kube::{DnsError, DnsOptions, Target};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let no_port: Target = "kubernetes://chat.prod".parse().unwrap();
/// let err = psrpc_kube::watch_headless_service(&no_port, DnsOptions::default()).unwrap_err();
/// assert!(matches!(err, DnsError::NoPort));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The target has no port; DNS needs one to build pod addresses.
    #[error("a DNS target needs a port")]
    NoPort,
    /// The system resolver configuration could not be read.
    #[error("resolver configuration: {0}")]
    Config(#[from] ResolveError),
}

/// Polls the headless Service of `target` and returns the live pod set; the
/// first successful answer (an empty one included) makes it ready. Failed
/// polls keep the last set. Polling stops when every clone of the returned
/// [`Membership`] is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let target: psrpc_kube::Target = "kubernetes://chat.prod:50051".parse()?;
/// let membership = psrpc_kube::watch_headless_service(&target, Default::default())?; // needs cluster DNS
/// println!("{:?}", membership.ready().await?.ready_names()); // pods named by address
/// # Ok(()) }
/// ```
pub fn watch_headless_service(target: &Target, options: DnsOptions) -> Result<Membership, DnsError> {
    let port = target.port.clone().ok_or(DnsError::NoPort)?;
    let resolver = resolver(&options)?;
    let namespace = target.namespace.clone().unwrap_or_else(pod_namespace);
    let host = format!("{}.{namespace}.svc.{}.", target.service, options.cluster_domain);
    let (feed, membership) = Membership::channel();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(options.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = feed.closed() => return,
                _ = ticks.tick() => {}
            }
            match poll(&resolver, &host, &port).await {
                Ok(pods) => feed.publish(pods),
                Err(error) => tracing::warn!(%host, %error, "headless service lookup failed; keeping the last pod set"),
            }
        }
    });
    Ok(membership)
}

fn resolver(options: &DnsOptions) -> Result<TokioResolver, DnsError> {
    let mut builder = if options.nameservers.is_empty() {
        TokioResolver::builder_tokio()?
    } else {
        let mut config = ResolverConfig::new();
        for server in &options.nameservers {
            config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
        }
        TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
    };
    // Every poll must see the current records.
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    Ok(builder.build())
}

async fn poll(resolver: &TokioResolver, host: &str, port: &PortSpec) -> Result<PodSet, ResolveError> {
    let found = match port {
        PortSpec::Number(port) => lookup_addresses(resolver, host, *port).await,
        PortSpec::Name(name) => lookup_srv(resolver, &format!("_{name}._tcp.{host}")).await,
    };
    match found {
        Ok(pods) => Ok(pods),
        Err(error) if error.is_no_records_found() => Ok(PodSet::new()),
        Err(error) => Err(error),
    }
}

async fn lookup_addresses(resolver: &TokioResolver, host: &str, port: u16) -> Result<PodSet, ResolveError> {
    let ips = resolver.lookup_ip(host).await?;
    Ok(ips.iter().map(|ip| dns_pod(ip.to_string(), vec![ip], port)).collect())
}

async fn lookup_srv(resolver: &TokioResolver, name: &str) -> Result<PodSet, ResolveError> {
    let records = resolver.srv_lookup(name).await?;
    let mut pods = PodSet::new();
    for srv in records.iter() {
        let target = srv.target().to_ascii();
        let Ok(ips) = resolver.lookup_ip(target.as_str()).await else {
            tracing::debug!(%target, "SRV target without an address");
            continue;
        };
        let pod_name = target.split('.').next().unwrap_or_default().to_owned();
        let mut addresses: Vec<IpAddr> = ips.iter().collect();
        addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
        pods.insert(dns_pod(pod_name, addresses, srv.port()));
    }
    Ok(pods)
}

fn dns_pod(name: String, addresses: Vec<IpAddr>, port: u16) -> Pod {
    Pod { name, addresses, port, node: None, zone: None, conditions: Conditions::default() }
}
