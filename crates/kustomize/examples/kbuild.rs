//! Prints the build of a directory: `cargo run --example kbuild -- DIR [ROOT]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let root = args.get(2).map(std::path::PathBuf::from).unwrap_or_else(|| dir.clone());
    match driftless_kustomize::build(&dir, &driftless_kustomize::BuildOptions::new(root)) {
        Ok(b) => print!("{}", b.to_yaml()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
