//! Compiles the minimal Hubble Observer protos (`proto/`) with protox — a protobuf compiler in
//! Rust, so no `protoc` has to be installed — and generates the tonic client and server (the
//! server is what the tests' fake Hubble Relay implements).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/observer/observer.proto", "proto/flow/flow.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
