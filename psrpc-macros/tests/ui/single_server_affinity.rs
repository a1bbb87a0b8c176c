#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service]
trait Bad {
    #[psrpc(affinity, topics(shard), single_server)]
    fn go(&self, m: M) -> M;
}

fn main() {}
