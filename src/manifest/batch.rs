//! Parsing many files on every core. A cold index of 100,000 files is bound by YAML parsing,
//! and files parse independently; the threads are scoped to one batch, so nothing outlives the
//! sync that started them.

use super::parse::{parse_manifest, FileError, FileObjects};
use super::yaml;

/// Below this many files, threads cost more than they save.
const MIN_PARALLEL: usize = 64;

/// Each file's parse result, in order.
pub fn parse_all(source: &str, files: &[(&str, Vec<u8>)]) -> Vec<Result<FileObjects, FileError>> {
    let parse_part = |part: &[(&str, Vec<u8>)]| -> Vec<Result<FileObjects, FileError>> {
        part.iter()
            .map(|(path, bytes)| parse_manifest(source, path, bytes))
            .collect()
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers < 2 || files.len() < MIN_PARALLEL {
        return parse_part(files);
    }
    let chunk = files.len().div_ceil(workers);
    let mut parts = files.chunks(chunk);
    // This thread parses the first part itself: it is a parser-stack thread (see callers).
    let own = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let spawned: Vec<_> = parts
            .map(|part| {
                let handle = std::thread::Builder::new()
                    .name("yaml-parse".into())
                    .stack_size(yaml::PARSER_STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        yaml::mark_parser_stack();
                        parse_part(part)
                    });
                (part, handle)
            })
            .collect();
        let mut results = parse_part(own);
        for (part, handle) in spawned {
            match handle {
                Ok(handle) => match handle.join() {
                    Ok(parsed) => results.extend(parsed),
                    // The sync attempt catches panics; a parser panic stays one.
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                // No thread to be had: parse that part here instead.
                Err(_) => results.extend(parse_part(part)),
            }
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_files() {
        let texts: Vec<String> = (0..200)
            .map(|i| {
                if i == 150 {
                    "kind: [unclosed\n".to_string()
                } else {
                    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n")
                }
            })
            .collect();
        let paths: Vec<String> = (0..200).map(|i| format!("f{i}.yaml")).collect();
        let files: Vec<(&str, Vec<u8>)> = paths
            .iter()
            .zip(&texts)
            .map(|(p, t)| (p.as_str(), t.as_bytes().to_vec()))
            .collect();
        let parsed = yaml::on_parser_stack(|| parse_all("s", &files)).expect("thread");
        assert_eq!(parsed.len(), 200);
        for (i, result) in parsed.iter().enumerate() {
            match result {
                Ok(out) => assert_eq!(out.objects[0].value.name(), format!("c{i}")),
                Err(e) => assert_eq!((i, e.file.as_str()), (150, "f150.yaml")),
            }
        }
        assert!(parsed[150].is_err());
    }
}
