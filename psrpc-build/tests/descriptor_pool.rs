//! `descriptor_pool` from many threads of one process at once: each call
//! finds the psrpc options however the others come and go.

use std::path::PathBuf;

#[test]
fn concurrent_calls_each_find_the_options() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto/examples");
    let proto = examples.join("my_service.proto");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (examples, proto) = (examples.clone(), proto.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let pool = psrpc_build::descriptor_pool(&[&proto], &[&examples]).expect("compiles");
                    assert!(pool.services().any(|s| s.name() == "MyService"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a thread panicked");
    }
}
