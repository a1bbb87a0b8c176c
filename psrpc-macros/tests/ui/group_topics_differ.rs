#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service]
trait Bad {
    #[psrpc(topics(node), group = "node")]
    fn first(&self, m: M) -> M;
    #[psrpc(topics(node, zone), group = "node")]
    fn second(&self, m: M) -> M;
}

fn main() {}
