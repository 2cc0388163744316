//! `release build`: a bundle directory with every table in every format, the release
//! metadata and the manifest. Written under a temporary name and renamed into place,
//! so a failed build leaves nothing; an existing release is never overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use statvault_protect::ProtectedTable;

use crate::formats::{csv, jsonstat, languages, px, sdmx, xlsx};
use crate::manifest::{self, FileEntry, Manifest, TableProvenance};
use crate::meta::ReleaseMeta;
use crate::parallel::parallel_map;
use crate::ReleaseError;

/// The `format` field of a bundle's `release.json`.
pub const RELEASE_FORMAT: &str = "statvault-release/1";

/// What `release build` made.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// The release id.
    pub release: String,
    /// Its version.
    pub version: u32,
    /// Tables in the bundle.
    pub tables: usize,
    /// Files written.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Builds the bundle of the protected tables in `tables_dir` into `out`.
pub fn build(tables_dir: &Path, meta_path: &Path, out: &Path) -> Result<BuildReport, ReleaseError> {
    let meta_text = fs::read_to_string(meta_path).map_err(|e| ReleaseError::io(meta_path, e))?;
    let meta = ReleaseMeta::parse(&meta_text).map_err(|message| ReleaseError::Meta {
        file: meta_path.display().to_string(),
        message,
    })?;
    let tables = read_tables(tables_dir)?;
    let boundaries = read_boundaries(tables_dir, &tables)?;
    if out.exists() {
        return Err(ReleaseError::Output {
            path: out.display().to_string(),
            message: "exists; a release is never overwritten (a revision is a new version)".into(),
        });
    }
    let temp = partial_name(out);
    let written = write_bundle(&temp, &meta, &tables, &boundaries).and_then(|files| {
        statvault_vault::atomic::publish_dir(&temp, out)
            .map_err(|e| ReleaseError::io(out, e))
            .map(|()| files)
    });
    let files = match written {
        Ok(files) => files,
        Err(e) => {
            let _ = fs::remove_dir_all(&temp);
            return Err(e);
        }
    };
    Ok(BuildReport {
        release: meta.id,
        version: meta.version,
        tables: tables.len(),
        files: files.len() + 1,
        bytes: files.iter().map(|f| f.size).sum(),
    })
}

fn partial_name(out: &Path) -> PathBuf {
    statvault_vault::atomic::partial_path(out, ".partial")
}

/// The boundary files beside the tables (`geo/<dimension>.geojson`, see
/// `boundaries`), each checked, and named after a dimension some table has: (bundle
/// path, bytes).
fn read_boundaries(
    dir: &Path,
    tables: &[ProtectedTable],
) -> Result<Vec<(String, Vec<u8>)>, ReleaseError> {
    let geo = dir.join("geo");
    if !geo.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = fs::read_dir(&geo)
        .map_err(|e| ReleaseError::io(&geo, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "geojson"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let refuse = |message: String| ReleaseError::Table {
            path: path.display().to_string(),
            message,
        };
        let dimension = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !tables
            .iter()
            .any(|t| t.dimensions.iter().any(|d| d.id == dimension))
        {
            return Err(refuse(format!(
                "no table has a dimension {dimension:?} for these boundaries to outline"
            )));
        }
        let bytes = fs::read(&path).map_err(|e| ReleaseError::io(&path, e))?;
        crate::boundaries::read(&bytes).map_err(refuse)?;
        out.push((format!("geo/{dimension}.geojson"), bytes));
    }
    Ok(out)
}

fn read_tables(dir: &Path) -> Result<Vec<ProtectedTable>, ReleaseError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| ReleaseError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".protected.json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(ReleaseError::Table {
            path: dir.display().to_string(),
            message: "no protected tables (*.protected.json)".into(),
        });
    }
    let mut tables: Vec<ProtectedTable> = Vec::new();
    for path in paths {
        let bytes = fs::read(&path).map_err(|e| ReleaseError::io(&path, e))?;
        let table = ProtectedTable::read(&bytes).map_err(|message| ReleaseError::Table {
            path: path.display().to_string(),
            message,
        })?;
        if !manifest::is_safe_path(&table.id) || table.id.contains('/') {
            return Err(ReleaseError::Table {
                path: path.display().to_string(),
                message: format!("table id {:?} cannot name a file", table.id),
            });
        }
        if tables.iter().any(|t| t.id == table.id) {
            return Err(ReleaseError::Table {
                path: path.display().to_string(),
                message: format!("a second table with id {:?}", table.id),
            });
        }
        tables.push(table);
    }
    Ok(tables)
}

/// The files of one table in every format.
fn table_files(table: &ProtectedTable, release_time: &str) -> Vec<(String, Vec<u8>)> {
    let base = format!("tables/{}", table.id);
    let mut files = vec![
        // The protected table itself: what the site and the API select from.
        (format!("{base}.protected.json"), table.write()),
        (format!("{base}.csv"), csv::write(table)),
        (format!("{base}.sdmx.csv"), sdmx::write(table, None)),
        (
            format!("{base}.sdmx.xml"),
            sdmx::structure(table, release_time),
        ),
    ];
    for lang in languages(table) {
        files.push((
            format!("{base}.sdmx.{lang}.csv"),
            sdmx::write(table, Some(&lang)),
        ));
        files.push((format!("{base}.{lang}.json"), jsonstat::write(table, &lang)));
    }
    files.push((
        format!("{base}.px"),
        px::write(table, &px::creation_date(release_time)),
    ));
    files.push((
        format!("{base}.xlsx"),
        xlsx::write(table).expect("an in-memory workbook writes"),
    ));
    files
}

/// Writes every file of the bundle into `dir`, manifest last, and returns the
/// manifest's entries. Tables are rendered, written and hashed in parallel, each file
/// dropped once written, so memory holds a few tables, not the release.
fn write_bundle(
    dir: &Path,
    meta: &ReleaseMeta,
    tables: &[ProtectedTable],
    boundaries: &[(String, Vec<u8>)],
) -> Result<Vec<FileEntry>, ReleaseError> {
    fs::create_dir_all(dir.join(crate::names::TABLES_DIR)).map_err(|e| ReleaseError::io(dir, e))?;
    let write = |path: &str, bytes: &[u8]| -> Result<FileEntry, ReleaseError> {
        let target = dir.join(path);
        fs::write(&target, bytes).map_err(|e| ReleaseError::io(&target, e))?;
        Ok(FileEntry::of(path, bytes))
    };
    let per_table = parallel_map(tables, |table| {
        table_files(table, &meta.release_time)
            .into_iter()
            .map(|(path, bytes)| write(&path, &bytes))
            .collect::<Result<Vec<FileEntry>, ReleaseError>>()
    });
    let mut files = Vec::new();
    for entries in per_table {
        files.extend(entries?);
    }
    if !boundaries.is_empty() {
        fs::create_dir_all(dir.join("geo")).map_err(|e| ReleaseError::io(dir, e))?;
    }
    for (path, bytes) in boundaries {
        files.push(write(path, bytes)?);
    }

    let summaries: Vec<Value> = tables
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "title": t.title,
                "unit": t.unit,
                "measure": t.measure,
                "protection": t.protection,
            })
        })
        .collect();
    let release = json!({
        "format": RELEASE_FORMAT,
        "meta": meta,
        "tables": summaries,
    });
    let mut release_bytes = serde_json::to_vec_pretty(&release).expect("serializes");
    release_bytes.push(b'\n');
    files.push(write(crate::names::RELEASE_FILE, &release_bytes)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        release: meta.id.clone(),
        version: meta.version,
        release_time: meta.release_time.clone(),
        title: meta.title.clone(),
        files,
        provenance: tables
            .iter()
            .map(|t| TableProvenance {
                table: t.id.clone(),
                snapshot: t.provenance.snapshot.clone(),
                log_head: t.provenance.log_head.clone(),
                spec_blake3: t.provenance.spec_blake3.clone(),
                source_blake3: t.provenance.source_blake3.clone(),
                method: t.protection.method.clone(),
                parameters: t.protection.parameters.clone(),
                ptable_blake3: t.protection.ptable_blake3.clone(),
                audit_passed: t.protection.audit.passed,
            })
            .collect(),
        statvault: env!("CARGO_PKG_VERSION").into(),
    };
    let target = dir.join(crate::names::MANIFEST_FILE);
    fs::write(&target, manifest.write()).map_err(|e| ReleaseError::io(&target, e))?;
    Ok(manifest.files)
}
