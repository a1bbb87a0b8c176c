#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service]
trait Bad {
    #[psrpc(stream, subscription)]
    fn go(&self, m: M);
}

fn main() {}
