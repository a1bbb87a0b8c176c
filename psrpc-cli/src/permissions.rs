//! `psrpc permissions`: the broker permissions a server or a client of a
//! service needs, in a namespace: NATS subject allow lists and a Redis ACL
//! rule (docs/WIRE.md sections 4, 5, 12 and 14). No bus is needed.
//!
//! Every name comes from the library's channel naming with the namespace
//! applied by `psrpc::transport::namespace::broker_names`; the parts that
//! vary per call (client ids, topics, discovery ids) are wildcards.

use clap::{Args, ValueEnum};
use psrpc::transport::channel::{Channel, sanitize};
use psrpc::transport::namespace::{Namespace, broker_names};
use psrpc::{Delivery, MethodKind};
use serde_json::json;

use crate::args::ProtoArgs;
use crate::exit::Failure;
use crate::out::Out;
use crate::proto::{ProtoMethod, load_service};

/// Arguments of `psrpc permissions`.
#[derive(Debug, Args)]
pub(crate) struct PermissionsArgs {
    /// The service (its name or full name in the .proto).
    service: String,
    #[command(flatten)]
    proto: ProtoArgs,
    /// The namespace the buses use (their `namespace=` URL parameter); none by default.
    #[arg(long)]
    namespace: Option<String>,
    /// The broker to print permissions for.
    #[arg(long, value_enum)]
    broker: Broker,
    /// Who uses them: the service's servers, its clients, or both.
    #[arg(long, value_enum, default_value = "both")]
    role: Role,
    /// The user name in the printed NATS user and Redis ACL.
    #[arg(long, default_value = "psrpc")]
    user: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Broker {
    Nats,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Server,
    Client,
    Both,
}

impl Role {
    fn server(self) -> bool {
        self != Role::Client
    }

    fn client(self) -> bool {
        self != Role::Server
    }
}

/// Who publishes and who subscribes a family of names.
#[derive(Debug, Clone, Copy)]
struct Use {
    /// The servers publish.
    server_publishes: bool,
    /// The servers subscribe.
    server_subscribes: bool,
    /// The clients publish.
    client_publishes: bool,
    /// The clients subscribe.
    client_subscribes: bool,
}

/// Servers subscribe, clients publish (requests and the like).
const TO_SERVERS: Use =
    Use { server_publishes: false, server_subscribes: true, client_publishes: true, client_subscribes: false };
/// Servers publish, clients subscribe (responses and the like).
const TO_CLIENTS: Use =
    Use { server_publishes: true, server_subscribes: false, client_publishes: false, client_subscribes: true };
/// Both publish and subscribe (subscription subjects, the readiness probe).
const BOTH_WAYS: Use =
    Use { server_publishes: true, server_subscribes: true, client_publishes: true, client_subscribes: true };

/// What the service's methods need, from its `.proto`.
#[derive(Debug, Default)]
struct Needs {
    /// Requests and their responses (any method but subscriptions).
    calls: bool,
    /// Stream methods (frames to the client node).
    streams: bool,
    /// Subscription methods (servers publish, clients subscribe, on the
    /// servers' subjects).
    subscriptions: bool,
    /// Queue subscriptions (clients take Redis queue locks).
    queue_subscriptions: bool,
}

impl Needs {
    fn of(kinds: impl IntoIterator<Item = MethodKind>) -> Self {
        let mut needs = Needs::default();
        for kind in kinds {
            match kind {
                MethodKind::Subscription { delivery, .. } => {
                    needs.subscriptions = true;
                    needs.queue_subscriptions |= delivery == Delivery::Queue;
                }
                MethodKind::Stream(_) => (needs.calls, needs.streams) = (true, true),
                _ => needs.calls = true,
            }
        }
        needs
    }
}

/// One family of names: a channel whose varying parts are wildcards.
fn family(legacy: String, subjects: &[String], usage: Use) -> Vec<(Channel, Use)> {
    subjects
        .iter()
        .map(|subject| {
            (Channel { legacy: legacy.as_str().into(), server: subject.as_str().into(), local: "".into() }, usage)
        })
        .collect()
}

/// Every family of names the service's buses use: the Legacy pattern (for
/// Redis) and the NATS subjects (`X` and `X.>`, since `>` needs a token).
fn families(service: &str, needs: &Needs) -> Vec<(Channel, Use)> {
    let legacy = sanitize(service);
    let on_servers = |base: String| vec![base.clone(), format!("{base}.>")];
    let mut out = Vec::new();
    let server_subjects =
        Use { server_publishes: needs.subscriptions, client_subscribes: needs.subscriptions, ..TO_SERVERS };
    out.extend(family(format!("{legacy}|*"), &on_servers(format!("SRV.{service}")), server_subjects));
    let native = [format!("SRVQ.{service}.>"), format!("SRVS.{service}.>")];
    out.extend(family(format!("{legacy}|*"), &native, server_subjects));
    if needs.calls {
        for suffix in ["RES", "CLAIM"] {
            out.extend(family(format!("{legacy}|*"), &[format!("CLI.{service}.*.{suffix}")], TO_CLIENTS));
        }
        out.extend(family(
            format!("$psrpc|sticky|{legacy}|*"),
            &on_servers(format!("$PSRPC.STICKY.{service}")),
            TO_SERVERS,
        ));
    }
    if needs.streams {
        out.extend(family(format!("{legacy}|*"), &[format!("CLI.{service}.*.STR")], TO_CLIENTS));
    }
    let discovery = "$psrpc|discovery|*".to_owned();
    out.extend(family(discovery.clone(), &["$PSRPC.DISCOVERY.QUERY".into()], TO_SERVERS));
    out.extend(family(discovery.clone(), &["$PSRPC.DISCOVERY.HEARTBEAT".into()], TO_CLIENTS));
    out.extend(family(discovery, &["$PSRPC.DISCOVERY.REPLY.*".into()], TO_CLIENTS));
    // The NATS bus's readiness probe (a private subject of each bus).
    out.extend(family(String::new(), &["_PSRPC.ready.*".into()], BOTH_WAYS));
    out
}

/// The NATS allow lists: (publish, subscribe).
fn nats(namespace: Option<&Namespace>, families: &[(Channel, Use)], role: Role) -> (Vec<String>, Vec<String>) {
    let (mut publish, mut subscribe) = (Vec::new(), Vec::new());
    for (channel, usage) in families {
        let subject = broker_names(namespace, channel).nats.to_string();
        let publishes = (role.server() && usage.server_publishes) || (role.client() && usage.client_publishes);
        let subscribes = (role.server() && usage.server_subscribes) || (role.client() && usage.client_subscribes);
        for (wanted, list) in [(publishes, &mut publish), (subscribes, &mut subscribe)] {
            if wanted && !list.contains(&subject) {
                list.push(subject.clone());
            }
        }
    }
    (publish, subscribe)
}

/// The Redis commands the bus sends (psrpc-bus-redis and redis-rs): pub/sub
/// (classic and sharded), `PING` (liveness), `HELLO` (redis-rs on
/// connecting, RESP3; its `CLIENT SETINFO` may fail: it is ignored, and
/// Redis before 7.2 has no such command to allow), `ROLE` (behind Sentinels: is it the
/// master), `CLUSTER INFO/NODES/SLOTS` (on a Redis Cluster).
const REDIS_COMMANDS: &[&str] = &[
    "+publish",
    "+subscribe",
    "+unsubscribe",
    "+spublish",
    "+ssubscribe",
    "+sunsubscribe",
    "+ping",
    "+hello",
    "+role",
    "+cluster|info",
    "+cluster|nodes",
    "+cluster|slots",
];

/// The commands of the queue locks (section 5): `SET … NX [GET]` and
/// `GET`; servers also run the `EVAL` that locks and publishes a claim.
const REDIS_LOCK_COMMANDS: &[&str] = &["+set", "+get"];

/// The Redis ACL rules (after `ACL SETUSER name on >password`). Redis ACLs
/// cannot tell publishing from subscribing, so both roles get the same
/// channels; only the servers (and clients of queue subscriptions) take
/// queue locks.
fn redis(namespace: Option<&Namespace>, families: &[(Channel, Use)], role: Role, needs: &Needs) -> Vec<String> {
    let mut rules = vec!["resetchannels".to_owned(), "resetkeys".to_owned(), "-@all".to_owned()];
    let locks = role.server() || (role.client() && needs.queue_subscriptions);
    if locks {
        let keys = broker_names(namespace, &Channel { legacy: "*".into(), server: "".into(), local: "".into() });
        rules.push(format!("~{}", keys.redis));
    }
    for (channel, _) in families.iter().filter(|(c, _)| !c.legacy.is_empty()) {
        let rule = format!("&{}", broker_names(namespace, channel).redis);
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    rules.extend(REDIS_COMMANDS.iter().map(|c| (*c).to_owned()));
    if locks {
        rules.extend(REDIS_LOCK_COMMANDS.iter().map(|c| (*c).to_owned()));
    }
    if role.server() {
        rules.push("+eval".to_owned());
    }
    rules
}

/// Prints the permissions.
pub(crate) fn run(args: &PermissionsArgs, out: &Out) -> Result<(), Failure> {
    let namespace =
        args.namespace.as_deref().map(Namespace::new).transpose().map_err(|e| Failure::usage(e.to_string()))?;
    let service = load_service(&args.service, &args.proto)?;
    let kinds = service.methods().map(|m| ProtoMethod::of(&m).map(|p| p.kind)).collect::<Result<Vec<_>, _>>()?;
    let needs = Needs::of(kinds);
    let families = families(service.name(), &needs);
    let namespace_name = namespace.as_ref().map(Namespace::as_str);
    let role = format!("{:?}", args.role).to_lowercase();
    let user = &args.user;
    match args.broker {
        Broker::Nats => {
            let (publish, subscribe) = nats(namespace.as_ref(), &families, args.role);
            if out.json {
                return out.json(&json!({
                    "service": service.name(), "namespace": namespace_name, "broker": "nats", "role": role,
                    "user": user, "publish": publish, "subscribe": subscribe,
                }));
            }
            let quoted = |list: &[String]| list.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
            out.text(&format!(
                "# NATS permissions of {role} of {} in namespace {}\n\
                 # (nats-server configuration; queue subscriptions use the group {})\n\
                 authorization {{\n  users = [\n    {{\n      user: \"{user}\"\n      password: \"<password>\"\n      \
                 permissions: {{\n        publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}\n      }}\n    }}\n  ]\n}}\n",
                service.name(),
                namespace_name.unwrap_or("(none)"),
                psrpc::transport::namespace::nats_queue_group(namespace.as_ref()),
                quoted(&publish),
                quoted(&subscribe),
            ))
        }
        Broker::Redis => {
            let rules = redis(namespace.as_ref(), &families, args.role, &needs);
            let acl = format!("ACL SETUSER {user} reset on ><password> {}", rules.join(" "));
            if out.json {
                return out.json(&json!({
                    "service": service.name(), "namespace": namespace_name, "broker": "redis", "role": role,
                    "user": user, "rules": rules, "acl": acl,
                }));
            }
            out.text(&format!(
                "# Redis ACL of {role} of {} in namespace {}\n\
                 # (Redis ACLs cannot tell publishing from subscribing: both roles get the same channels)\n{acl}\n",
                service.name(),
                namespace_name.unwrap_or("(none)"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Needs {
        use psrpc::Selection;
        Needs::of([
            MethodKind::Unary(Selection::Queue { topics: false }),
            MethodKind::Stream(Selection::Queue { topics: false }),
            MethodKind::Subscription { delivery: Delivery::Queue, topics: false },
        ])
    }

    #[test]
    fn nats_subjects_are_namespaced_and_split_by_role() {
        let ns = Namespace::new("a").unwrap();
        let families = families("Svc", &every_kind());
        let (publish, subscribe) = nats(Some(&ns), &families, Role::Server);
        assert!(subscribe.contains(&"a.SRV.Svc".to_owned()) && subscribe.contains(&"a.SRV.Svc.>".to_owned()));
        assert!(publish.contains(&"a.CLI.Svc.*.RES".to_owned()) && !subscribe.contains(&"a.CLI.Svc.*.RES".to_owned()));
        assert!(subscribe.contains(&"a.$PSRPC.DISCOVERY.QUERY".to_owned()));
        let (publish, subscribe) = nats(None, &families, Role::Client);
        assert!(publish.contains(&"SRV.Svc.>".to_owned()) && subscribe.contains(&"CLI.Svc.*.STR".to_owned()));
        assert!(publish.contains(&"_PSRPC.ready.*".to_owned()) && subscribe.contains(&"_PSRPC.ready.*".to_owned()));
    }

    #[test]
    fn redis_rules_cover_the_service_discovery_and_locks() {
        let ns = Namespace::new("a").unwrap();
        let needs = every_kind();
        let rules = redis(Some(&ns), &families("my-svc", &needs), Role::Server, &needs);
        for rule in ["~a|*", "&a|myu+002dsvc|*", "&a|$psrpc|discovery|*", "&a|$psrpc|sticky|myu+002dsvc|*", "+eval"] {
            assert!(rules.contains(&rule.to_owned()), "{rule} in {rules:?}");
        }
        let client = redis(None, &families("Svc", &Needs::default()), Role::Client, &Needs::default());
        assert!(!client.iter().any(|r| r.starts_with('~') || r == "+set"), "{client:?}");
    }
}
