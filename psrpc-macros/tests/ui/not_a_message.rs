#[psrpc_macros::service]
trait Bad {
    fn go(&self, m: &str) -> String;
}

fn main() {}
