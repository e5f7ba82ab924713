//! Identicons: a 5 x 5 mirrored pattern and a colour derived from an address, so that people
//! are told apart at a glance (and an address that differs looks different).

use eframe::egui;

use crate::crypto::Address;

/// The pattern and colour of `address`: cells of the left three columns (mirrored), and a hue.
pub fn pattern(address: &Address) -> ([[bool; 5]; 5], egui::Color32) {
    let digest = crate::crypto::sha256(address.as_bytes());
    let mut cells = [[false; 5]; 5];
    for (row, cells_row) in cells.iter_mut().enumerate() {
        for col in 0..3 {
            let bit = row * 3 + col;
            let on = digest[bit / 8] >> (bit % 8) & 1 == 1;
            cells_row[col] = on;
            cells_row[4 - col] = on;
        }
    }
    let hue = f32::from(u16::from_be_bytes([digest[30], digest[31]])) / 65536.0;
    let color = egui::ecolor::Hsva::new(hue, 0.55, 0.75, 1.0).into();
    (cells, color)
}

/// Draws the identicon of `address` as a `size` square with rounded corners.
pub fn identicon_ui(ui: &mut egui::Ui, address: &Address, size: f32) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    if ui.is_rect_visible(rect) {
        paint(ui.painter(), rect, address);
    }
    response
}

/// Paints the identicon of `address` into the square `rect`.
pub fn paint(painter: &egui::Painter, rect: egui::Rect, address: &Address) {
    let size = rect.width();
    let (cells, color) = pattern(address);
    painter.rect_filled(rect, size * 0.2, color.gamma_multiply(0.18));
    let cell = size * 0.8 / 5.0;
    let origin = rect.min + egui::vec2(size * 0.1, size * 0.1);
    for (r, row) in cells.iter().enumerate() {
        for (c, on) in row.iter().enumerate() {
            if *on {
                let min = origin + egui::vec2(c as f32 * cell, r as f32 * cell);
                painter.rect_filled(egui::Rect::from_min_size(min, egui::vec2(cell, cell)), 0.0, color);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_mirrored_stable_and_differ_between_addresses() {
        let a = crate::crypto::Identity::generate().unwrap().address();
        let b = crate::crypto::Identity::generate().unwrap().address();
        let (pa, ca) = pattern(&a);
        assert_eq!(pattern(&a), (pa, ca), "the same address draws the same");
        for row in pa {
            assert_eq!(row[0], row[4]);
            assert_eq!(row[1], row[3]);
        }
        assert!(pattern(&b) != (pa, ca));
    }
}
