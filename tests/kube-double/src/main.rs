//! `kube-double [--port N] [--kubeconfig PATH]`: serve the double until interrupted, for kubectl
//! or a binary under test in end-to-end tests.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut port = 0u16;
    let mut kubeconfig: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().unwrap_or_default().parse()?,
            "--kubeconfig" => kubeconfig = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: kube-double [--port N] [--kubeconfig PATH]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let double = kube_double::KubeDouble::builder()
        .port(port)
        .start()
        .await?;
    if let Some(path) = &kubeconfig {
        double.write_kubeconfig(path)?;
    }
    // One line on stdout that a parent process can wait for.
    println!("kube-double listening on {}", double.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
