#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service]
trait Bad {
    #[psrpc(subscription, topics(region), group = "region")]
    fn go(&self, m: M);
}

fn main() {}
