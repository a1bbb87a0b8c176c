//! A fake DNS server on loopback UDP answering A, AAAA and SRV queries from
//! a table the test changes while discovery polls it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::proto::serialize::binary::BinEncodable as _;

#[derive(Default)]
struct Zone {
    addresses: HashMap<Name, Vec<IpAddr>>,
    services: HashMap<Name, Vec<(String, u16)>>,
}

/// The fake server; dropping it stops serving.
pub struct FakeDns {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

impl FakeDns {
    /// Serves on a free loopback port.
    pub async fn start() -> FakeDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let task = tokio::spawn({
            let zone = zone.clone();
            async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let Ok((n, peer)) = socket.recv_from(&mut buf).await else { return };
                    let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                    let answer = answer(&zone.lock().unwrap(), &query);
                    let _ = socket.send_to(&answer.to_bytes().unwrap(), peer).await;
                }
            }
        });
        FakeDns { addr, zone, task }
    }

    /// Sets the addresses of `host` (an empty list removes the name).
    pub fn set_addresses(&self, host: &str, addresses: &[&str]) {
        let addresses = addresses.iter().map(|a| a.parse().unwrap()).collect::<Vec<IpAddr>>();
        let mut zone = self.zone.lock().unwrap();
        if addresses.is_empty() {
            zone.addresses.remove(&name(host));
        } else {
            zone.addresses.insert(name(host), addresses);
        }
    }

    /// Sets the SRV records of `service` to `(target, port)` pairs.
    pub fn set_srv(&self, service: &str, targets: &[(&str, u16)]) {
        let targets = targets.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect();
        self.zone.lock().unwrap().services.insert(name(service), targets);
    }
}

fn answer(zone: &Zone, query: &Message) -> Message {
    let mut response = Message::new();
    response.set_id(query.id()).set_message_type(MessageType::Response).set_recursion_available(true);
    response.set_authoritative(true);
    response.add_queries(query.queries().to_vec());
    for q in query.queries() {
        let owner = q.name().clone();
        let known = zone.addresses.contains_key(&owner) || zone.services.contains_key(&owner);
        if !known {
            response.set_response_code(ResponseCode::NXDomain);
            continue;
        }
        let records: Vec<RData> = match q.query_type() {
            RecordType::A => ips(zone, &owner)
                .filter_map(|ip| match ip {
                    IpAddr::V4(v4) => Some(RData::A(A(v4))),
                    IpAddr::V6(_) => None,
                })
                .collect(),
            RecordType::AAAA => ips(zone, &owner)
                .filter_map(|ip| match ip {
                    IpAddr::V6(v6) => Some(RData::AAAA(AAAA(v6))),
                    IpAddr::V4(_) => None,
                })
                .collect(),
            RecordType::SRV => zone
                .services
                .get(&owner)
                .into_iter()
                .flatten()
                .map(|(target, port)| RData::SRV(SRV::new(0, 100, *port, name(target))))
                .collect(),
            _ => Vec::new(),
        };
        response.add_answers(records.into_iter().map(|rdata| Record::from_rdata(owner.clone(), 0, rdata)));
    }
    response
}

fn ips<'a>(zone: &'a Zone, owner: &Name) -> impl Iterator<Item = IpAddr> + 'a {
    zone.addresses.get(owner).into_iter().flatten().copied()
}
