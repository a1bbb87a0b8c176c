#[derive(Clone, PartialEq, prost::Message)]
pub struct M {}

#[psrpc_macros::service(unimplemented_defaults = false)]
trait Svc {
    fn first(&self, m: M) -> M;
    fn second(&self, m: M) -> M;
}

struct Impl;

impl SvcServerImpl for Impl {
    async fn first(&self, _ctx: psrpc::RequestContext, m: M) -> Result<M, psrpc::Error> {
        Ok(m)
    }
}

fn main() {}
