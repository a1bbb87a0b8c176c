//! A `nats-server` whose users each have their own publish and subscribe
//! allow lists (`authorization { users = [{ user, password, permissions }] }`),
//! as `psrpc permissions --broker nats` prints them or a test writes them.

use crate::broker::{BrokerError, BrokerProcess, free_port};
use crate::topology::{Scratch, start_error, with_fresh_ports};

/// The password of every [`NatsUser`].
///
/// ```
/// assert!(psrpc_test_support::nats_permissions::USER_PASSWORD.contains("s3cret")); // easy to look for in messages
/// ```
pub const USER_PASSWORD: &str = "perm-s3cret";

/// A user and the subjects it may publish to and subscribe to (NATS
/// wildcards allowed); anything else the server refuses.
///
/// ```
/// use psrpc_test_support::nats_permissions::NatsUser;
/// let user = NatsUser::new("orders", ["SRV.Orders.>"], ["CLI.Orders.>", "_PSRPC.ready.*"]);
/// assert_eq!(user.name, "orders");
/// ```
#[derive(Debug, Clone)]
pub struct NatsUser {
    /// The user's name.
    pub name: String,
    /// The subjects it may publish to.
    pub publish: Vec<String>,
    /// The subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

impl NatsUser {
    /// A user allowed exactly `publish` and `subscribe`.
    ///
    /// ```
    /// let blind = psrpc_test_support::nats_permissions::NatsUser::new("blind", ["a.b"], [] as [&str; 0]);
    /// assert!(blind.subscribe.is_empty());
    /// ```
    pub fn new<S: Into<String>>(
        name: &str,
        publish: impl IntoIterator<Item = S>,
        subscribe: impl IntoIterator<Item = S>,
    ) -> Self {
        NatsUser {
            name: name.to_owned(),
            publish: publish.into_iter().map(Into::into).collect(),
            subscribe: subscribe.into_iter().map(Into::into).collect(),
        }
    }
}

/// A `nats-server` on a free loopback port with [`NatsUser`]s. Killed, and
/// its configuration removed, on drop.
///
/// ```no_run
/// use psrpc_test_support::nats_permissions::{NatsUser, PermittedNats};
/// let server = PermittedNats::start(&[NatsUser::new("orders", ["SRV.Orders.>"], ["_PSRPC.ready.*"])])?;
/// let url = server.url("orders"); // nats://orders:…@127.0.0.1:port
/// # let _ = url;
/// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
/// ```
#[derive(Debug)]
pub struct PermittedNats {
    _process: BrokerProcess,
    _scratch: Scratch,
    port: u16,
}

impl PermittedNats {
    /// Starts a server whose only users are `users`, each with the
    /// password [`USER_PASSWORD`].
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_permissions::{NatsUser, PermittedNats};
    /// let server = PermittedNats::start(&[NatsUser::new("a", ["x"], ["x"]), NatsUser::new("b", ["y"], ["y"])])?;
    /// # let _ = server;
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn start(users: &[NatsUser]) -> Result<Self, BrokerError> {
        with_fresh_ports(|| Self::start_once(users))
    }

    fn start_once(users: &[NatsUser]) -> Result<Self, BrokerError> {
        let scratch = Scratch::new("nats-permissions")?;
        let port = free_port();
        let list = |subjects: &[String]| {
            let quoted: Vec<String> = subjects.iter().map(|s| format!("\"{s}\"")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let users: Vec<String> = users
            .iter()
            .map(|u| {
                format!(
                    "{{ user: \"{}\", password: \"{USER_PASSWORD}\", permissions: {{ publish: {{ allow: {} }}, subscribe: {{ allow: {} }} }} }}",
                    u.name,
                    list(&u.publish),
                    list(&u.subscribe)
                )
            })
            .collect();
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\nauthorization {{\n  users = [\n    {}\n  ]\n}}\n",
            users.join(",\n    ")
        );
        let file = scratch.path().join("nats.conf");
        std::fs::write(&file, config).map_err(|e| start_error("nats-server", e.to_string()))?;
        let process = BrokerProcess::start("nats-server", vec!["-c".to_owned(), file.display().to_string()], port)?;
        Ok(PermittedNats { _process: process, _scratch: scratch, port })
    }

    /// A URL that logs in as `user`.
    ///
    /// ```no_run
    /// use psrpc_test_support::nats_permissions::{NatsUser, PermittedNats};
    /// let server = PermittedNats::start(&[NatsUser::new("orders", ["x"], ["x"])])?;
    /// assert!(server.url("orders").starts_with("nats://orders:"));
    /// # Ok::<(), psrpc_test_support::broker::BrokerError>(())
    /// ```
    pub fn url(&self, user: &str) -> String {
        format!("nats://{user}:{USER_PASSWORD}@127.0.0.1:{}", self.port)
    }
}
