//! Writes the bundled schemas: reads the OpenAPI v3 documents in a
//! directory (as `kubectl get --raw /openapi/v3/...` writes them), reduces
//! them as [`driftless_validate::schema::bundle::reduce`] does, and writes
//! the result gzipped. `scripts/openapi-bundle.sh` runs it on what the
//! devcluster serves.
//!
//!     cargo run -p driftless-validate --example openapi-bundle -- DOCS_DIR OUT.json.gz

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        eprintln!("usage: openapi-bundle DOCS_DIR OUT.json.gz");
        return ExitCode::from(2);
    };
    match write(dir, out) {
        Ok(size) => {
            println!("{out}: {size} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("openapi-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write(dir: &str, out: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            docs.push(serde_json::from_str(&std::fs::read_to_string(&path)?).map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    let bundle = driftless_validate::schema::bundle::reduce(&docs);
    let kinds = bundle["kinds"].as_array().map_or(0, Vec::len);
    if kinds == 0 {
        return Err(format!("{dir}: no group-version document").into());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(serde_json::to_string(&bundle)?.as_bytes())?;
    let bytes = gz.finish()?;
    std::fs::write(out, &bytes)?;
    eprintln!("{kinds} kinds");
    Ok(bytes.len())
}
