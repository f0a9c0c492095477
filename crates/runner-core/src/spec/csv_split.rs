//! Reading a split listed in a CSV file (`data.train_csv` and its siblings): one row per
//! image, its path relative to the CSV file's folder and its class, as Keras'
//! `flow_from_dataframe` takes a data frame. Every problem names the file and the line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One image of a CSV split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub path: PathBuf,
    pub label: String,
    /// The row's line in the file (the header is line 1).
    pub line: u64,
}

/// The rows of `csv` (the `split` split), each path made relative to the CSV's folder and
/// checked to be a file; or the first problem, naming the file and the line.
pub fn read_csv_split(
    split: &str,
    csv: &Path,
    [path_column, label_column]: [&str; 2],
) -> Result<Vec<CsvRow>, String> {
    let at = |line: u64| format!("{}:{line}", csv.display());
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv)
        .map_err(|err| {
            format!(
                "cannot read the {split} CSV file `{}`: {err}",
                csv.display()
            )
        })?;
    let headers = reader
        .headers()
        .map_err(|err| format!("{}: cannot read the header row: {err}", at(1)))?
        .clone();
    let column = |name: &str, key: &str| {
        headers.iter().position(|header| header == name).ok_or_else(|| {
            format!(
                "{}: the {split} CSV file has no column `{name}` (its columns: {}); set `data.{key}`",
                at(1),
                headers.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (path_index, label_index) = (
        column(path_column, "path_column")?,
        column(label_column, "label_column")?,
    );
    let folder = csv.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut first_line_of: HashMap<PathBuf, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map_or(0, csv::Position::line);
            format!("{}: {err}", at(line))
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |index: usize, name: &str| match record.get(index) {
            Some(value) if !value.is_empty() => Ok(value.to_string()),
            _ => Err(format!("{}: the `{name}` column is empty", at(line))),
        };
        let (written, label) = (
            field(path_index, path_column)?,
            field(label_index, label_column)?,
        );
        let path = folder.join(&written);
        if !path.is_file() {
            return Err(format!(
                "{}: the image `{written}` does not exist (looked for `{}`)",
                at(line),
                path.display()
            ));
        }
        if let Some(first) = first_line_of.insert(path.clone(), line) {
            return Err(format!(
                "{}: `{written}` is listed twice in the {split} CSV file (also on line {first})",
                at(line)
            ));
        }
        rows.push(CsvRow { path, label, line });
    }
    if rows.is_empty() {
        return Err(format!("{}: the {split} CSV file lists no images", at(1)));
    }
    Ok(rows)
}

/// The classes of a CSV split: `declared` (`data.classes`) when given, each row's label
/// checked to be one of them; otherwise its labels in name order, at least two.
pub fn csv_classes(
    split: &str,
    csv: &Path,
    rows: &[CsvRow],
    declared: Option<&[String]>,
) -> Result<Vec<String>, String> {
    if let Some(declared) = declared {
        check_labels(split, csv, rows, declared, "`data.classes`")?;
        return Ok(declared.to_vec());
    }
    let mut classes: Vec<String> = rows.iter().map(|row| row.label.clone()).collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        return Err(format!(
            "the {split} CSV file `{}` has {} class{}: a classifier needs at least two",
            csv.display(),
            classes.len(),
            if classes.len() == 1 { "" } else { "es" }
        ));
    }
    Ok(classes)
}

/// Every row's label is one of `classes` (which `source` names), or the first that is not.
pub fn check_labels(
    split: &str,
    csv: &Path,
    rows: &[CsvRow],
    classes: &[String],
    source: &str,
) -> Result<(), String> {
    match rows.iter().find(|row| !classes.contains(&row.label)) {
        None => Ok(()),
        Some(row) => {
            let nearest = crate::spec::closest(classes.iter().map(String::as_str), &row.label, 1);
            Err(format!(
                "{}:{}: the {split} image `{}` has the label `{}`, which is not one of the classes of {source} ({}){}",
                csv.display(),
                row.line,
                row.path.display(),
                row.label,
                classes.join(", "),
                nearest
                    .first()
                    .map_or_else(String::new, |name| format!("; did you mean `{name}`?"))
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(csv: &str, images: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for image in images {
            let path = dir.path().join(image);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"not read here").unwrap();
        }
        std::fs::write(dir.path().join("split.csv"), csv).unwrap();
        dir
    }

    const COLUMNS: [&str; 2] = ["filename", "class"];

    #[test]
    fn reads_rows_relative_to_the_csv_and_finds_the_classes() {
        let dir = folder_with(
            "id,filename,class\n1,img/a.png,dog\n2, img/b.png ,cat\n",
            &["img/a.png", "img/b.png"],
        );
        let csv = dir.path().join("split.csv");
        let rows = read_csv_split("training", &csv, COLUMNS).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].path, dir.path().join("img/b.png"));
        assert_eq!((rows[1].label.as_str(), rows[1].line), ("cat", 3));
        assert_eq!(
            csv_classes("training", &csv, &rows, None).unwrap(),
            ["cat", "dog"]
        );
    }

    #[test]
    fn every_problem_names_the_file_and_the_line() {
        let cases = [
            (
                "path,label\na.png,dog\n",
                "no column `filename` (its columns: `path`, `label`); set `data.path_column`",
            ),
            (
                "filename,class\na.png,dog\nmissing.png,cat\n",
                "split.csv:3: the image `missing.png` does not exist",
            ),
            (
                "filename,class\na.png,dog\na.png,cat\n",
                "split.csv:3: `a.png` is listed twice in the training CSV file (also on line 2)",
            ),
            (
                "filename,class\na.png,\n",
                "split.csv:2: the `class` column is empty",
            ),
            (
                "filename,class\n",
                "split.csv:1: the training CSV file lists no images",
            ),
        ];
        for (text, expected) in cases {
            let dir = folder_with(text, &["a.png"]);
            let error =
                read_csv_split("training", &dir.path().join("split.csv"), COLUMNS).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn labels_outside_the_classes_are_named_with_their_line() {
        let dir = folder_with(
            "filename,class\na.png,dog\nb.png,dgo\n",
            &["a.png", "b.png"],
        );
        let csv = dir.path().join("split.csv");
        let rows = read_csv_split("validation", &csv, COLUMNS).unwrap();
        let classes = ["cat".to_string(), "dog".to_string()];
        let error = csv_classes("validation", &csv, &rows, Some(&classes)).unwrap_err();
        assert!(
            error.contains("split.csv:3: the validation image")
                && error.contains("has the label `dgo`")
                && error.contains("did you mean `dog`?"),
            "{error}"
        );
        let one_class = folder_with("filename,class\na.png,dog\n", &["a.png"]);
        let csv = one_class.path().join("split.csv");
        let rows = read_csv_split("training", &csv, COLUMNS).unwrap();
        let error = csv_classes("training", &csv, &rows, None).unwrap_err();
        crate::assert_contains(&error, "has 1 class: a classifier needs at least two");
    }
}
