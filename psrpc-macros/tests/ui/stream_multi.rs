#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service]
trait Bad {
    #[psrpc(stream, multi)]
    fn chat(&self, m: M) -> M;
}

fn main() {}
