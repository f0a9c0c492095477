//! `runner inspect`'s pictures: the confusion matrix as a heat map with its counts, and a
//! grid of images, each with a caption (the highest-loss validation images).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::register_bundled_font;

/// One image of a grid: RGB pixels, row by row, and two caption lines under it.
pub struct Tile {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub caption: [String; 2],
}

const CELL: u32 = 90;
const MARGIN: u32 = 170;
const CAPTION: u32 = 40;

/// Writes `matrix` (`matrix[true class][predicted class]`) as a PNG heat map at `out`: rows
/// are the true classes, columns the predictions, each cell its count, darker for more.
pub fn draw_confusion_matrix(classes: &[String], matrix: &[Vec<usize>], out: &Path) -> Result<()> {
    register_bundled_font();
    let n = u32::try_from(classes.len()).unwrap_or(u32::MAX).max(1);
    let side = MARGIN + n.saturating_mul(CELL) + 20;
    let root = BitMapBackend::new(out, (side, side)).into_drawing_area();
    let error = |err| anyhow!("cannot draw `{}`: {err}", out.display());
    root.fill(&WHITE).map_err(error)?;
    let largest = matrix.iter().flatten().copied().max().unwrap_or(0).max(1);
    let label = |text: &str, x: i32, y: i32, pos: Pos| {
        Text::new(
            text.to_string(),
            (x, y),
            ("sans-serif", 15).into_font().color(&BLACK).pos(pos),
        )
    };
    let centered = Pos::new(HPos::Center, VPos::Center);
    root.draw(&label(
        "predicted",
        (MARGIN + n * CELL / 2) as i32,
        (MARGIN - 50) as i32,
        centered,
    ))
    .map_err(error)?;
    root.draw(&label("true", 18, (MARGIN + n * CELL / 2) as i32, centered))
        .map_err(error)?;
    for (row, class) in classes.iter().enumerate() {
        let offset = (MARGIN + row as u32 * CELL + CELL / 2) as i32;
        let short: String = class.chars().take(16).collect();
        root.draw(&label(&short, offset, (MARGIN - 20) as i32, centered))
            .map_err(error)?;
        root.draw(&label(
            &short,
            (MARGIN - 10) as i32,
            offset,
            Pos::new(HPos::Right, VPos::Center),
        ))
        .map_err(error)?;
    }
    for (row, counts) in matrix.iter().enumerate() {
        for (column, &count) in counts.iter().enumerate() {
            let (x, y) = (MARGIN + column as u32 * CELL, MARGIN + row as u32 * CELL);
            let shade = count as f64 / largest as f64;
            let color = RGBColor(
                (240.0 - 200.0 * shade) as u8,
                (245.0 - 150.0 * shade) as u8,
                255 - (60.0 * shade) as u8,
            );
            root.draw(&Rectangle::new(
                [(x as i32, y as i32), ((x + CELL) as i32, (y + CELL) as i32)],
                color.filled(),
            ))
            .map_err(error)?;
            let ink = if shade > 0.5 { WHITE } else { BLACK };
            root.draw(&Text::new(
                count.to_string(),
                ((x + CELL / 2) as i32, (y + CELL / 2) as i32),
                ("sans-serif", 20).into_font().color(&ink).pos(centered),
            ))
            .map_err(error)?;
        }
    }
    root.present().map_err(error)?;
    Ok(())
}

/// Writes `tiles` as a PNG grid at `out`, `columns` to a row, captions under the images.
/// Every tile has the same size (the first one's).
pub fn draw_grid(tiles: &[Tile], columns: usize, out: &Path) -> Result<()> {
    register_bundled_font();
    let Some(first) = tiles.first() else {
        return Err(anyhow!("no images to draw in `{}`", out.display()));
    };
    let (tile_width, tile_height) = (first.width.max(140), first.height + CAPTION);
    let columns = columns.clamp(1, tiles.len());
    let rows = tiles.len().div_ceil(columns);
    let size = (
        tile_width * columns as u32 + 10,
        tile_height * rows as u32 + 10,
    );
    let root = BitMapBackend::new(out, size).into_drawing_area();
    let error = |err| anyhow!("cannot draw `{}`: {err}", out.display());
    root.fill(&WHITE).map_err(error)?;
    for (index, tile) in tiles.iter().enumerate() {
        let x = 5 + (index % columns) as u32 * tile_width;
        let y = 5 + (index / columns) as u32 * tile_height;
        draw_tile(&root, tile, (x as i32, y as i32)).map_err(error)?;
    }
    root.present().map_err(error)?;
    Ok(())
}

fn draw_tile<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    tile: &Tile,
    (x, y): (i32, i32),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let image =
        BitMapElement::with_owned_buffer((x, y), (tile.width, tile.height), tile.pixels.clone());
    // A tile whose buffer is short is left blank rather than drawn from outside it.
    if let Some(image) = image {
        root.draw(&image)?;
    }
    for (line, text) in tile.caption.iter().enumerate() {
        let short: String = text.chars().take(28).collect();
        root.draw(&Text::new(
            short,
            (x + 2, y + tile.height as i32 + 4 + 17 * line as i32),
            ("sans-serif", 13).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}
